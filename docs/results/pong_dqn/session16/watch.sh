#!/bin/bash
# watch.sh (session 16): greedy evaluation of run_M's and run_P's every 50k-step snapshot.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s16 /work/bin/pixelgym-s15 run_M:50000 run_P:50000
