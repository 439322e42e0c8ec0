# summ.py GREEDY_TXT [OUT_CSV]: per snapshot step, the greedy 10-game means on seeds 9999 / 31337 / 4242
# and their mean (lines "STEP SEED JSON" as watch.sh writes them). With OUT_CSV, also write
# "step,mean_return" for the steps that have all three seeds (the greedy_mean*.csv files here).
import json, sys, collections
SEEDS = ('9999', '31337', '4242')
d = collections.defaultdict(dict)
for l in open(sys.argv[1]):
    step, seed, js = l.split(' ', 2)
    try:
        d[int(step)][seed] = json.loads(js)['mean_return']
    except (ValueError, KeyError):
        pass  # an evaluation cut off mid-line when the watcher was stopped
for s in sorted(d):
    v = d[s]
    print(f"{s:>9} " + ' '.join(f"{v.get(k, float('nan')):+6.1f}" for k in SEEDS)
          + f"  mean {sum(v.values()) / len(v):+6.2f}")
if len(sys.argv) > 2:
    rows = [f"{s},{sum(v.values()) / 3:.3f}" for s, v in sorted(d.items()) if all(k in v for k in SEEDS)]
    open(sys.argv[2], 'w').write("step,mean_return\n" + "\n".join(rows) + "\n")
