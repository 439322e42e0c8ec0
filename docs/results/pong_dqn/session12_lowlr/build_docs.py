# build_docs.py: session-12 result dirs under docs/results/pong_dqn/session12_lowlr/
# Each CSV = the committed session-11 rows (P, 0..1.2M, already spliced) + this session's rows.
import os, shutil, json
S11 = '/work/main/docs/results/pong_dqn/session11_nosticky_scratch'
OUT = '/work/main/docs/results/pong_dqn/session12_lowlr'
def rows(path):
    lines = open(path).read().splitlines()
    return lines[0], [(int(l.split(',')[0]), l) for l in lines[1:]]
def after_last_resume(rs, start):
    # rows of the final sitting: those after the last point where the step goes back, step > start
    cut = 0
    for i in range(1, len(rs)):
        if rs[i][0] < rs[i-1][0]:
            cut = i
    return [r for r in rs[cut:] if r[0] > start]
def build(name, parts):
    d = f'{OUT}/{name}'; os.makedirs(d, exist_ok=True)
    for csv in ('eval.csv', 'metrics.csv', 'episodes.csv'):
        head, base = rows(f'{S11}/{csv}')
        out = [l for s, l in base if s <= 1_200_000]
        for src, lo, hi, last_sitting in parts:
            _, rs = rows(f'{src}/{csv}')
            if last_sitting:
                rs = after_last_resume(rs, lo)
            out += [l for s, l in rs if lo < s <= hi]
        open(f'{d}/{csv}', 'w').write('\n'.join([head] + out) + '\n')
        print(d, csv, len(out))
    return d
R = '/work/runs/s12'
stopL = json.load(open(f'{R}/run_L/last.json'))['step']
stopM = json.load(open(f'{R}/run_M/last.json'))['step']
stopP = json.load(open(f'{R}/run_P/last.json'))['step']
build('L', [(f'{R}/run_L', 1_200_000, stopL, False)])
build('M', [(f'{R}/run_L', 1_200_000, 1_450_000, False), (f'{R}/run_M', 1_450_000, stopM, True)])
build('P_lr1e-4', [(f'{R}/run_P', 1_200_000, stopP, False)])
for name, run, cfg in (('L', 'run_L', 'cfg_L.toml'), ('M', 'run_M', 'cfg_M.toml'), ('P_lr1e-4', 'run_P', 'cfg_P.toml')):
    shutil.copy(f'{R}/{run}/greedy.txt', f'{OUT}/{name}/greedy.txt')
    shutil.copy(f'{R}/{cfg}', f'{OUT}/{name}/resume_config.toml')
    shutil.copy(f'{R}/{run}/config.toml', f'{OUT}/{name}/config.toml')
print(stopL, stopM, stopP)
