#!/bin/bash
# watch.sh (session 23): greedy evaluation of run_N's and run_N2's every 50k-step snapshot.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s23 /work/bin/pixelgym-969d35d run_N:50000 run_N2:50000
