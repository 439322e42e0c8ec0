# build_docs.py: session-14 result dirs under docs/results/pong_dqn/session14/ from /work/runs/s14.
# Each run was resumed from its session-13 checkpoint, so its CSVs hold every row from step 0 and
# this sitting's rows after it; copy_run drops those past each final checkpoint.
# (Session 15 took L/checkpoint out of the tree, and session 17 N/checkpoint: rerunning this puts them
# back; they are in git at 8ffc2b6 and 7cf2488.)
import os, sys
R, OUT = '/work/runs/s14', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import chain_csv, copy_run
for name, run, cfg in (('L', 'run_L', 'cfg_L.toml'), ('N', 'run_N', 'cfg_N.toml')):
    copy_run(f'{R}/{run}', f'{OUT}/{name}', f'{R}/{cfg}')
# Greedy points along each chain: session 13's file, then this sitting's points.
for before, run, out in (('greedy_mean_chain.csv', 'L', 'greedy_mean_chain.csv'),
                         ('N/greedy_mean.csv', 'N', 'N_greedy_mean_chain.csv')):
    chain_csv(f'{OUT}/../session13/{before}', f'{OUT}/{run}/greedy_mean.csv', f'{OUT}/{out}')
# watch.sh here calls ../watch_greedy.sh, as the session ran it
