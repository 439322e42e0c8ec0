#!/bin/bash
# watch.sh: greedy 10-game eval (seeds 9999, 31337, 4242) of each new snapshot of the runs listed below
# (run_P, run_L and run_M during the session; run_L alone for its last sitting)
# -> RUN/greedy.txt lines "STEP SEED JSON"
cd /work/runs/s12
while true; do
  for run in run_L; do
    for f in $run/snapshots/step_*.safetensors; do
      [ -e "$f" ] || continue
      step=$(basename $f .safetensors | sed 's/step_0*//')
      grep -q "^$step " $run/greedy.txt 2>/dev/null && continue
      for seed in 9999 31337 4242; do
        out=$(nice -n 5 /work/bin/pixelgym-s12 eval --checkpoint $f --episodes 10 --seed $seed --greedy --json 2>/dev/null | tail -1)
        echo "$step $seed $out" >> $run/greedy.txt
      done
    done
  done
  sleep 60
done
