# build_docs.py: session-23 result dirs under docs/results/pong_dqn/session23/ from /work/runs/s23.
# Both runs were resumed from session 21's committed checkpoints (step 4,250,000; Nature CNN at
# 84x84) with a config that re-fills 250,000 steps of replay before updating again
# (dqn.learning_starts = 250000; the checkpoints carry no replay file); N2's also lowers its
# rate from 1e-5 to 5e-6 (N's stays at 2.5e-5). copy_run keeps each run's resume config beside
# its config.toml and drops the CSV rows past its final checkpoint. The held-out files were made
# with ../heldout_greedy.sh.
import os, sys
R, OUT = '/work/runs/s23', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import continue_chains
continue_chains(R, OUT, 'session21', ('N', 'N2'), 4825000,
                cfgs={'N': f'{R}/cfg_N_refill250k.toml', 'N2': f'{R}/cfg_N2_refill250k_lr5e-6.toml'})
