# build_docs.py: session-15 result dirs under docs/results/pong_dqn/session15/ from /work/runs/s15.
# Both runs were resumed from session 14's committed L checkpoint (step 6,350,000): L as it was
# (learning_rate 1e-5), M with cfg_M.toml (learning_rate 5e-6). Their CSVs hold every row from
# step 0 and this sitting's rows after it. Rows (and greedy lines) past the step of the final
# checkpoint (last.json) are dropped: a resume from that checkpoint repeats those steps.
import csv, glob, io, json, os, shutil, subprocess
R, OUT = '/work/runs/s15', os.path.dirname(os.path.abspath(__file__))
SUMM = os.path.join(OUT, '..', 'session12_lowlr', 'summ.py')
for name, run, cfg in (('L', 'run_L', None), ('M', 'run_M', 'cfg_M.toml')):
    d = f'{OUT}/{name}'
    os.makedirs(f'{d}/checkpoint', exist_ok=True)
    last = json.load(open(f'{R}/{run}/last.json'))['step']
    for f in ('eval.csv', 'metrics.csv', 'episodes.csv'):
        rows = list(csv.reader(open(f'{R}/{run}/{f}', newline='')))
        buf = io.StringIO()
        csv.writer(buf, lineterminator='\n').writerows(
            [rows[0]] + [r for r in rows[1:] if int(r[0]) <= last])
        open(f'{d}/{f}', 'w').write(buf.getvalue())
    lines = [l for l in open(f'{R}/{run}/greedy.txt') if int(l.split(' ', 1)[0]) <= last]
    open(f'{d}/greedy.txt', 'w').writelines(lines)
    for f in ('last.safetensors', 'last.json'):
        shutil.copy(f'{R}/{run}/{f}', f'{d}/checkpoint/{f}')
    shutil.copy(f'{R}/{run}/config.toml', f'{d}/config.toml')
    if cfg:
        shutil.copy(f'{R}/{run}/{cfg}', f'{d}/{cfg}')
    for f in glob.glob(f'{R}/{run}/heldout_*.txt'):  # the held-out evaluations, made by hand
        shutil.copy(f, d)
    subprocess.run(['python3', SUMM, f'{d}/greedy.txt', f'{d}/greedy_mean.csv'], check=True)
# Greedy points along each chain: session 14's small-CNN chain, then this sitting's points.
old = open(f'{OUT}/../session14/greedy_mean_chain.csv').read()
for run, out in (('L', 'greedy_mean_chain.csv'), ('M', 'M_greedy_mean_chain.csv')):
    new = open(f'{OUT}/{run}/greedy_mean.csv').read().split('\n', 1)[1]
    open(f'{OUT}/{out}', 'w').write(old + new)
