#!/bin/bash
# heldout_greedy.sh BIN RUN STEP: greedy 10 games of RUN's STEP checkpoint on each held-out seed
# 1001, 2002 ... 8008 with the pixelgym binary BIN -> RUN/heldout_STEP.txt (lines "STEP SEED JSON",
# as watch_greedy.sh writes greedy.txt), then print the 80-game mean and the per-seed range.
# The checkpoint is the STEP snapshot, or RUN/last.safetensors when a run stopped at a STEP that
# is no snapshot step (last.json records it).
bin=$1; run=$2; step=$3
snap=$(printf "%s/snapshots/step_%010d.safetensors" "$run" "$step")
if [ ! -e "$snap" ]; then
  if grep -q "\"step\": $step," "$run/last.json" 2>/dev/null; then
    snap=$run/last.safetensors
  else
    echo "heldout_greedy.sh: $run has no checkpoint at step $step (no $snap, and $run/last.json is another step)" >&2
    exit 1
  fi
fi
out=$run/heldout_$step.txt
for seed in 1001 2002 3003 4004 5005 6006 7007 8008; do
  echo "$step $seed $("$bin" eval --checkpoint "$snap" --episodes 10 --seed $seed --greedy --json 2>/dev/null | tail -1)"
done > "$out.tmp" && mv "$out.tmp" "$out"
python3 - "$out" <<'PY'
import json, sys
v = [json.loads(l.split(' ', 2)[2])['mean_return'] for l in open(sys.argv[1])]
print(sys.argv[1], f'mean {sum(v) / len(v):+.2f}', f'range {min(v):+.1f} .. {max(v):+.1f}')
PY
