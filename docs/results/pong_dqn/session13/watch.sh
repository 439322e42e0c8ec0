#!/bin/bash
# watch.sh (session 13): greedy 10-game eval of new snapshots -> RUN/greedy.txt lines "STEP SEED JSON".
# run_L: every 50k-step snapshot on seeds 9999, 31337, 4242; run_N: every 100k-step snapshot on the same seeds.
cd /work/runs/s13
while true; do
  for spec in run_L:50000 run_N:100000; do
    run=${spec%%:*}; every=${spec##*:}
    for f in $run/snapshots/step_*.safetensors; do
      [ -e "$f" ] || continue
      step=$(basename $f .safetensors | sed 's/step_0*//')
      [ $((step % every)) -eq 0 ] || continue
      grep -q "^$step " $run/greedy.txt 2>/dev/null && continue
      for seed in 9999 31337 4242; do
        out=$(nice -n 5 /work/bin/pixelgym-s13 eval --checkpoint $f --episodes 10 --seed $seed --greedy --json 2>/dev/null | tail -1)
        echo "$step $seed $out" >> $run/greedy.txt
      done
    done
  done
  sleep 60
done
