#!/bin/bash
# watch_greedy.sh DIR BIN RUN:EVERY...: greedy 10-game eval (seeds 9999, 31337, 4242) of each new
# snapshot of the runs under DIR whose step is a multiple of EVERY, with the pixelgym binary BIN
# -> DIR/RUN/greedy.txt lines "STEP SEED JSON" (read by session12_lowlr/summ.py). Loops until killed.
dir=$1; bin=$2; shift 2
cd "$dir" || exit 1
while true; do
  for spec in "$@"; do
    run=${spec%%:*}; every=${spec##*:}
    for f in $run/snapshots/step_*.safetensors; do
      [ -e "$f" ] || continue
      step=$(basename $f .safetensors | sed 's/step_0*//')
      [ $((step % every)) -eq 0 ] || continue
      grep -q "^$step " $run/greedy.txt 2>/dev/null && continue
      for seed in 9999 31337 4242; do
        out=$(nice -n 5 "$bin" eval --checkpoint $f --episodes 10 --seed $seed --greedy --json 2>/dev/null | tail -1)
        echo "$step $seed $out" >> $run/greedy.txt
      done
    done
  done
  sleep 60
done
