# copy_run.py: the shared steps of each session's build_docs.py. copy_run(run, dest, cfg) copies a
# run directory's results into dest: its CSVs and greedy lines up to the step of its final
# checkpoint (last.json; a resume from that checkpoint repeats the rows after it), the checkpoint,
# the resolved config.toml, the config it was resumed with (cfg, a path, or None), the held-out
# evaluation files, and greedy_mean.csv made by session12_lowlr/summ.py.
# chain_csv joins a greedy_mean.csv onto the chain before it; chain_up_to cuts a chain at a step;
# continue_chains does all three for a session that continued the runs of the one before.
import csv, glob, io, json, os, shutil, subprocess
SUMM = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'session12_lowlr', 'summ.py')


def copy_run(run, d, cfg=None):
    os.makedirs(f'{d}/checkpoint', exist_ok=True)
    last = json.load(open(f'{run}/last.json'))['step']
    for f in ('eval.csv', 'metrics.csv', 'episodes.csv'):
        rows = list(csv.reader(open(f'{run}/{f}', newline='')))
        buf = io.StringIO()
        csv.writer(buf, lineterminator='\n').writerows(
            [rows[0]] + [r for r in rows[1:] if int(r[0]) <= last])
        open(f'{d}/{f}', 'w').write(buf.getvalue())
    lines = [l for l in open(f'{run}/greedy.txt') if int(l.split(' ', 1)[0]) <= last]
    open(f'{d}/greedy.txt', 'w').writelines(lines)
    for f in ('last.safetensors', 'last.json'):
        shutil.copy(f'{run}/{f}', f'{d}/checkpoint/{f}')
    shutil.copy(f'{run}/config.toml', f'{d}/config.toml')
    if cfg:
        shutil.copy(cfg, d)
    for f in glob.glob(f'{run}/heldout_*.txt'):  # the held-out evaluations, made by hand
        shutil.copy(f, d)
    subprocess.run(['python3', SUMM, f'{d}/greedy.txt', f'{d}/greedy_mean.csv'], check=True)


def chain_csv(before, after, out):
    """Write out: the "step,mean_return" rows of before (an earlier stretch of the chain), then
    after's rows without its header."""
    old = open(before).read()
    new = open(after).read().split('\n', 1)[1]
    open(out, 'w').write(old + new)


def chain_up_to(chain, out, last_step):
    """Write out: the rows of a "step,..." chain file up to last_step (`pixelgym plot` has no
    step-range option), so a plot can set another chain beside the stretch it covers."""
    rows = open(chain).read().splitlines()
    open(out, 'w').write(
        '\n'.join([rows[0]] + [r for r in rows[1:] if int(r.split(',')[0]) <= last_step]) + '\n')


def continue_chains(runs_dir, out, prev, runs, small_chain_to, cfgs=None):
    """One session of runs continued from session prev's checkpoints: copy each runs_dir/run_R
    into out/R (with cfgs[R], the config it was resumed with, when given), extend prev's
    R_greedy_mean_chain.csv with this sitting's points, and cut the small-CNN chain (session
    16's file) at small_chain_to steps for the plot."""
    for run in runs:
        copy_run(f'{runs_dir}/run_{run}', f'{out}/{run}', (cfgs or {}).get(run))
        chain_csv(f'{out}/../{prev}/{run}_greedy_mean_chain.csv', f'{out}/{run}/greedy_mean.csv',
                  f'{out}/{run}_greedy_mean_chain.csv')
    chain_up_to(f'{out}/../session16/M_greedy_mean_chain.csv',
                f'{out}/small_chain_to_{small_chain_to / 1e6:g}M.csv', small_chain_to)
