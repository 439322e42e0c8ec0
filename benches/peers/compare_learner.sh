#!/usr/bin/env bash
# The learner figures of docs/BENCHMARKS.md in one sitting: pixelgym bench-train with candle's
# convolutions and with ours, and benches/peers/torch_bench.py (PyTorch CPU), interleaved so
# every ratio comes from neighbouring runs. Not run by CI.
#   bash benches/peers/compare_learner.sh [seconds]   (torch in benches/peers/.venv, see torch_bench.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-6}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --no-default-features -p pixelgym
bin="$target/release/pixelgym"
py=benches/peers/.venv/bin/python
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"
run() {  # label, then the command
  local label="$1"; shift
  printf '%s\t%s\n' "$label" "$("$@")"
}
for t in 1 2; do
  for net in "nature 84" "small 42"; do
    set -- $net
    args=(--net "$1" --size "$2" --batch 32 --threads "$t" --seconds "$secs" --json)
    [ "$t" = 1 ] && run "candle" "$bin" bench-train "${args[@]}" --conv candle
    run "fast" "$bin" bench-train "${args[@]}" --conv fast
    [ -x "$py" ] && run "torch" "$py" benches/peers/torch_bench.py "${args[@]}"
  done
done
for t in 1 2; do
  args=(--net nature --size 84 --batch 1 --threads "$t" --seconds "$secs" --json --infer)
  [ "$t" = 1 ] && run "candle" "$bin" bench-train "${args[@]}" --conv candle
  run "fast" "$bin" bench-train "${args[@]}" --conv fast
  [ -x "$py" ] && run "torch" "$py" benches/peers/torch_bench.py "${args[@]}"
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
