# build_docs.py: session-21 result dirs under docs/results/pong_dqn/session21/ from /work/runs/s21.
# Both runs were resumed from session 20's committed checkpoints (step 3,450,000; Nature CNN at
# 84x84), each with its own config.toml unchanged: N's learning rate holds at 2.5e-5 from 1.5M,
# N2's at 1e-5. Their CSVs hold every row from step 0 and this sitting's rows after it; copy_run
# drops those past each final checkpoint. The held-out files were made with ../heldout_greedy.sh
# from each run's 4,250,000 snapshot.
import os, sys
R, OUT = '/work/runs/s21', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import continue_chains
# N's and N2's greedy points along each chain (sessions 13-20's, then this sitting's), and the
# small-CNN chain over the same steps.
continue_chains(R, OUT, 'session20', ('N', 'N2'), 4250000)
