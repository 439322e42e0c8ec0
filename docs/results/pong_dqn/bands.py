# bands.py GREEDY_MEAN_CSV LO-HI ...: for each band of snapshot steps LO..HI (inclusive), the mean
# of the 30-game greedy means in a greedy_mean.csv (summ.py's "step,mean_return"), their range and
# count: the band tables of docs/RESULTS.md.
import csv, sys
rows = [(int(s), float(m)) for s, m in list(csv.reader(open(sys.argv[1])))[1:]]
for band in sys.argv[2:]:
    lo, hi = map(int, band.split('-'))
    v = [m for s, m in rows if lo <= s <= hi]
    print(f'{band}: {sum(v) / len(v):+.1f} ({min(v):+.1f} .. {max(v):+.1f}, {len(v)} snapshots)')
