# build_docs.py: session-15 result dirs under docs/results/pong_dqn/session15/ from /work/runs/s15.
# Both runs were resumed from session 14's committed L checkpoint (step 6,350,000): L as it was
# (learning_rate 1e-5), M with cfg_M.toml (learning_rate 5e-6). Their CSVs hold every row from
# step 0 and this sitting's rows after it; copy_run drops those past each final checkpoint.
# (Session 16 took L/checkpoint and M/checkpoint out of the tree: rerunning this puts them back;
# they are in git at d065246.)
import os, sys
R, OUT = '/work/runs/s15', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import chain_csv, copy_run
copy_run(f'{R}/run_L', f'{OUT}/L')
copy_run(f'{R}/run_M', f'{OUT}/M', f'{R}/run_M/cfg_M.toml')
# Greedy points along each chain: session 14's small-CNN chain, then this sitting's points.
for run, out in (('L', 'greedy_mean_chain.csv'), ('M', 'M_greedy_mean_chain.csv')):
    chain_csv(f'{OUT}/../session14/greedy_mean_chain.csv', f'{OUT}/{run}/greedy_mean.csv', f'{OUT}/{out}')
