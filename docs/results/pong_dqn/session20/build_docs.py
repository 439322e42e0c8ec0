# build_docs.py: session-20 result dirs under docs/results/pong_dqn/session20/ from /work/runs/s20.
# Both runs were resumed from session 19's committed checkpoints (step 2,650,000; Nature CNN at
# 84x84), each with its own config.toml unchanged: N's learning rate holds at 2.5e-5 from 1.5M,
# N2's at 1e-5. Their CSVs hold every row from step 0 and this sitting's rows after it; copy_run
# drops those past each final checkpoint. The held-out files were made with ../heldout_greedy.sh
# from each run's 3,450,000 snapshot.
# (Session 21 took N/checkpoint and N2/checkpoint out of the tree: rerunning this puts them
# back; they are in git at a9b33dc.)
import os, sys
R, OUT = '/work/runs/s20', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import continue_chains
# N's and N2's greedy points along each chain (sessions 13-19's, then this sitting's), and the
# small-CNN chain over the same steps.
continue_chains(R, OUT, 'session19', ('N', 'N2'), 3450000)
