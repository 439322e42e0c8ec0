#!/bin/bash
# watch.sh (session 14): run_L every 50k-step snapshot, run_N every 100k-step snapshot. After N
# stopped (875k), it ran with run_L:50000 alone; L's final 6,350,000 snapshot was evaluated by hand
# with the same eval command and seeds.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s14 /work/bin/pixelgym-s14 run_L:50000 run_N:100000
