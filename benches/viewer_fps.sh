#!/usr/bin/env bash
# Steady-state FPS of `pixelgym watch` on the driving scene under Xvfb + Mesa's lavapipe, per
# look and size: two runs of different length, so the start-up (shader compilation on the
# CPU) cancels out. Not run by CI.   bash benches/viewer_fps.sh [path/to/pixelgym]
set -euo pipefail
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/pixelgym}"
short=30 long=120
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $bin"
secs() {  # frames, then extra args: wall seconds the viewer reports
  xvfb-run -a -s "-screen 0 1920x1080x24" "$bin" watch DriveMap-v0 --policy scripted \
    --option map=curve --seed 3 --frames "$@" 2>&1 |
    sed -n 's/^viewer: [0-9]* frames in \([0-9.]*\) s.*/\1/p'
}
for setting in "--look fast" "--look pbr --no-msaa" "--look pbr"; do
  for size in "1280 720" "640 360"; do
    set -- $size
    a=$(secs $short $setting --width "$1" --height "$2")
    b=$(secs $long $setting --width "$1" --height "$2")
    python3 -c "import sys; a,b=float('$a'),float('$b'); print(f'{sys.argv[1]:22s} {sys.argv[2]:>9s}  {$short} fr {a:6.1f} s, {$long} fr {b:6.1f} s  steady {($long-$short)/(b-a):5.1f} FPS')" "$setting" "${1}x$2"
  done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
