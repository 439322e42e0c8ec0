# build_docs.py: session-13 result dirs under docs/results/pong_dqn/session13/ from /work/runs/s13.
# L's CSVs already hold every row from step 0 (session 12's spliced files, then this sitting's rows
# appended from 2,925,000 on); N's start at step 0. The checkpoints are each run's last.safetensors.
import os, shutil, subprocess
R, OUT = '/work/runs/s13', os.path.dirname(os.path.abspath(__file__))
SUMM = os.path.join(OUT, '..', 'session12_lowlr', 'summ.py')
for name, run, cfg in (('L', 'run_L', None), ('N', 'run_N', 'cfg_N.toml')):
    d = f'{OUT}/{name}'
    os.makedirs(f'{d}/checkpoint', exist_ok=True)
    for f in ('eval.csv', 'metrics.csv', 'episodes.csv', 'config.toml', 'greedy.txt'):
        shutil.copy(f'{R}/{run}/{f}', f'{d}/{f}')
    for f in ('last.safetensors', 'last.json'):
        shutil.copy(f'{R}/{run}/{f}', f'{d}/checkpoint/{f}')
    if cfg:
        shutil.copy(f'{R}/{cfg}', f'{d}/{cfg}')
    subprocess.run(['python3', SUMM, f'{d}/greedy.txt', f'{d}/greedy_mean.csv'], check=True)
# watch.sh here calls ../watch_greedy.sh, as the session ran it
