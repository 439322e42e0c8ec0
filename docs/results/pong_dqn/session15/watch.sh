#!/bin/bash
# watch.sh (session 15): greedy evaluation of run_L's and run_M's every 50k-step snapshot.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s15 /work/bin/pixelgym-s15 run_L:50000 run_M:50000
