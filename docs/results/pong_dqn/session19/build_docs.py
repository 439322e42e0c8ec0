# build_docs.py: session-19 result dirs under docs/results/pong_dqn/session19/ from /work/runs/s19.
# Both runs were resumed from session 18's committed checkpoints (step 1,825,000; Nature CNN at
# 84x84), each with its own config.toml unchanged: N's learning rate holds at 2.5e-5 from 1.5M,
# N2's at 1e-5. Their CSVs hold every row from step 0 and this sitting's rows after it; copy_run
# drops those past each final checkpoint. The held-out files were made with ../heldout_greedy.sh,
# which reads each run's last.* for its final step.
import os, sys
R, OUT = '/work/runs/s19', os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(OUT, '..'))
from copy_run import chain_csv, chain_up_to, copy_run
for run in ('N', 'N2'):
    copy_run(f'{R}/run_{run}', f'{OUT}/{run}')
    # Greedy points along each chain: sessions 13-18's, then this sitting's.
    chain_csv(f'{OUT}/../session18/{run}_greedy_mean_chain.csv', f'{OUT}/{run}/greedy_mean.csv',
              f'{OUT}/{run}_greedy_mean_chain.csv')
# The small-CNN chain (session 16's file) over the same steps, for the plot.
chain_up_to(f'{OUT}/../session16/M_greedy_mean_chain.csv', f'{OUT}/small_chain_to_2.65M.csv', 2650000)
