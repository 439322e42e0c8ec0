#!/usr/bin/env bash
# Measure pixelgym's env throughput and the Gymnasium/ALE peers in one sitting, so the
# ratios in docs/BENCHMARKS.md come from one run on one machine. Not run by CI.
#   bash benches/peers/compare_envs.sh [seconds]   (release build; peers need .venv, see gym_bench.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
bin=target/release/pixelgym
cargo build --release --quiet
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# pixelgym"
$bin bench Pong-v0 Breakout-v0 --seconds "$secs" --json
$bin bench Pong-v0 Breakout-v0 --preprocess atari --num-envs 1,2,8 --seconds "$secs" --json
$bin bench CartPole-v1 Catch-v0 --seconds "$secs" --json
$bin bench Drive-v0 --seconds "$secs" --json
$bin bench Drive-v0 --num-envs 2 --seconds "$secs" --json
if [ -x benches/peers/.venv/bin/python ]; then
  echo "# peers"
  benches/peers/.venv/bin/python benches/peers/gym_bench.py --seconds "$secs" --json
else
  echo "# peers skipped: python3 -m venv benches/peers/.venv && benches/peers/.venv/bin/pip install gymnasium ale-py opencv-python-headless"
fi
