# build_docs.py: session-17 result dirs under docs/results/pong_dqn/session17/ from /work/runs/s17.
# Both runs were resumed from session 14's committed N checkpoint (step 875,000; Nature CNN at
# 84x84): N as it was (learning rate falling linearly from 1e-4 at step 0 to 2.5e-5 at 1.5M),
# N2 with cfg_N2.toml (the same fall, to 1e-5). Their CSVs hold every row from step 0 and this
# sitting's rows after it; copy_run drops those past each final checkpoint.
# (Session 18 took N/checkpoint and N2/checkpoint out of the tree: rerunning this puts them
# back; they are in git at c896a02.)
import os, sys
R, OUT = '/work/runs/s17', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import chain_csv, chain_up_to, copy_run
copy_run(f'{R}/run_N', f'{OUT}/N')
copy_run(f'{R}/run_N2', f'{OUT}/N2')  # cfg_N2.toml equals its resolved config.toml
# Greedy points along each chain: sessions 13-14's N points, then this sitting's.
for run in ('N', 'N2'):
    chain_csv(f'{OUT}/../session14/N_greedy_mean_chain.csv', f'{OUT}/{run}/greedy_mean.csv',
              f'{OUT}/{run}_greedy_mean_chain.csv')
# The small-CNN chain (session 16's file) over the same steps, for the plot.
chain_up_to(f'{OUT}/../session16/M_greedy_mean_chain.csv', f'{OUT}/small_chain_to_1.5M.csv', 1500000)
