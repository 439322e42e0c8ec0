#!/bin/bash
# watch.sh (session 12): every 25k-step snapshot of run_L (run_P and run_M too during the session).
exec "$(dirname "$0")/../watch_greedy.sh" /work/runs/s12 /work/bin/pixelgym-s12 run_L:25000
