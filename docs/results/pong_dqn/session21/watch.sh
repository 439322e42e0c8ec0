#!/bin/bash
# watch.sh (session 21): greedy evaluation of run_N's and run_N2's every 50k-step snapshot.
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s21 /work/bin/pixelgym-s19 run_N:50000 run_N2:50000
