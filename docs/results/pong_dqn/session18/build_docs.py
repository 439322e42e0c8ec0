# build_docs.py: session-18 result dirs under docs/results/pong_dqn/session18/ from /work/runs/s18.
# Both runs were resumed from session 17's committed checkpoints (step 1,350,000; Nature CNN at
# 84x84), each with its own config.toml unchanged: N's learning rate falls linearly from 1e-4 at
# step 0 to 2.5e-5 at 1.5M and holds there, N2's to 1e-5. Their CSVs hold every row from step 0
# and this sitting's rows after it; copy_run drops those past each final checkpoint.
# The held-out files were made with ../heldout_greedy.sh from a copy of each run's last.* in
# snapshots/step_0001825000.* (no 50k snapshot step); the script now reads last.* itself.
# (Session 19 took N/checkpoint and N2/checkpoint out of the tree: rerunning this puts them
# back; they are in git at 59ce965.)
import os, sys
R, OUT = '/work/runs/s18', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import continue_chains
# N's and N2's greedy points along each chain (sessions 13-17's, then this sitting's), and the
# small-CNN chain over the same steps.
continue_chains(R, OUT, 'session17', ('N', 'N2'), 2000000)
