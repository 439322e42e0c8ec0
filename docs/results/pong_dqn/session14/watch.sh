#!/bin/bash
# watch.sh (session 14): run_L every 50k-step snapshot, run_N every 100k-step snapshot.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s14 /work/bin/pixelgym-s14 run_L:50000 run_N:100000
