# build_docs.py: session-16 result dirs under docs/results/pong_dqn/session16/ from /work/runs/s16.
# Both runs were resumed from session 15's committed M checkpoint (step 7,800,000): M as it was
# (learning_rate 5e-6, cfg_M.toml), P with cfg_P.toml (learning_rate 2.5e-6). Their CSVs hold
# every row from step 0 and this sitting's rows after it; copy_run drops those past each final
# checkpoint.
import os, sys
R, OUT = '/work/runs/s16', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import chain_csv, copy_run
copy_run(f'{R}/run_M', f'{OUT}/M', f'{R}/run_M/cfg_M.toml')
copy_run(f'{R}/run_P', f'{OUT}/P', f'{R}/run_P/cfg_P.toml')
# Greedy points along each chain: session 15's M chain, then this sitting's points.
for run in ('M', 'P'):
    chain_csv(f'{OUT}/../session15/M_greedy_mean_chain.csv', f'{OUT}/{run}/greedy_mean.csv',
              f'{OUT}/{run}_greedy_mean_chain.csv')
