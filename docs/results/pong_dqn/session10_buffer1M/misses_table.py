# Tally the lost points of pong_misses CSVs as in docs/RESULTS.md (sessions 8 and 10): python3 misses_table.py misses_*.csv
import csv, sys
rows = [r for f in sys.argv[1:] for r in csv.DictReader(open(f))]
won = sum(r['scorer'] == 'agent' for r in rows)
lost = [r for r in rows if r['scorer'] == 'opponent']
n = len(lost)
pct = lambda k: f"{k} ({100*k/n:.0f}%)"
print(f"points won {won}, lost {n}, games {len(sys.argv[1:])*10}, mean {(won-n)/(len(sys.argv[1:])*10):+.2f}")
print("serve (turns 0):", pct(sum(int(r['turns']) == 0 for r in lost)))
print("first return (turns 1):", pct(sum(int(r['turns']) == 1 for r in lost)))
print("later:", pct(sum(int(r['turns']) >= 2 for r in lost)))
print("flat (<8 px/step):", pct(sum(abs(float(r['ball_dy'])) < 8 for r in lost)))
print("near miss (<=12):", pct(sum(abs(float(r['paddle_off'])) <= 12 for r in lost)))
print("far (>30):", pct(sum(abs(float(r['paddle_off'])) > 30 for r in lost)))
