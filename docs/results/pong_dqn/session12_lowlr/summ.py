# summ.py RUN...: per snapshot step, greedy mean over the 3 seeds (10 games each)
import json, sys, collections
for run in sys.argv[1:]:
    d = collections.defaultdict(dict)
    try:
        for l in open(f'{run}/greedy.txt'):
            step, seed, js = l.split(' ', 2)
            try: d[int(step)][seed] = json.loads(js)['mean_return']
            except Exception: pass
    except FileNotFoundError: continue
    print('==', run)
    for s in sorted(d):
        v = d[s]
        print(f"{s:>9} " + ' '.join(f"{v.get(k, float('nan')):+6.1f}" for k in ('9999','31337','4242')) + f"  mean {sum(v.values())/len(v):+6.2f}")
