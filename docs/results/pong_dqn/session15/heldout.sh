#!/bin/bash
# (session 15: run in /work/runs/s15 with the session's release build; see watch.sh)
# heldout.sh RUN STEP: greedy 10 games on each held-out seed 1001..8008 -> RUN/heldout_STEP.txt
run=$1; step=$2; f=$(printf "%s/snapshots/step_%010d.safetensors" $run $step)
[ -e "$f" ] || f=$(ls $run/snapshots/step_*$step.safetensors | head -1)
for seed in 1001 2002 3003 4004 5005 6006 7007 8008; do
  echo "$step $seed $(/work/bin/pixelgym-s15 eval --checkpoint $f --episodes 10 --seed $seed --greedy --json 2>/dev/null | tail -1)"
done > $run/heldout_$step.txt
python3 -c "
import json,sys
v=[json.loads(l.split(' ',2)[2])['mean_return'] for l in open('$run/heldout_$step.txt')]
print('$run', $step, 'mean %+.2f'%(sum(v)/len(v)), 'range %+.1f .. %+.1f'%(min(v),max(v)))"
