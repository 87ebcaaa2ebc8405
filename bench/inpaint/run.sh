#!/usr/bin/env bash
# Classic inpainting vs OpenCV's cv2.inpaint (Telea and Navier-Stokes), one run, same
# inputs: 1024×1024 scenes with a 10% hole, time and PSNR inside the hole against the
# ground truth. Easel runs as a user runs it: `easel serve` (auth off, loopback), one
# POST /v1/generations INPAINTING per scene with the classic engine; its time is the
# engine latency from the request log (and the HTTP round trip is printed beside it).
# Usage: bench/inpaint/run.sh [PHOTO.jpg …]   (photos add natural scenes, cropped)
# EASEL=/path/to/easel skips the release build. Installs opencv-python-headless and
# numpy into target/bench-venv (PyPI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import cv2, numpy' 2>/dev/null \
  || "$venv/bin/pip" install -q opencv-python-headless numpy
if [ -z "${EASEL:-}" ]; then
  (cd "$root" && cargo build --release -p easel)
  EASEL=${CARGO_TARGET_DIR:-$root/target}/release/easel
fi
exec "$venv/bin/python" "$here/bench.py" --easel "$EASEL" "$@"
