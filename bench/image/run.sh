#!/usr/bin/env bash
# Image engine benchmark. Usage: bench/image/run.sh [PHOTOS_DIR] [bench.py options]
# Needs Debian packages: libvips-tools imagemagick python3-pil python3-numpy time, and
# for the HEIC/AVIF tasks libheif-examples and libavif-bin (scripts/install-deps)
# (and the corpus, fetched into bench/photos by fetch-photos.sh when missing).
# EASEL=/path/to/easel skips the release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
photos=${1:-$root/bench/photos}
shift || true
for cmd in vipsthumbnail /usr/bin/convert /usr/bin/python3 /usr/bin/time heif-enc avifdec; do
  command -v "$cmd" >/dev/null || {
    echo "missing $cmd: apt-get install libvips-tools imagemagick python3-pil python3-numpy time libheif-examples libavif-bin" >&2
    exit 1
  }
done
/usr/bin/python3 -c 'import numpy, PIL' || { echo "apt-get install python3-pil python3-numpy" >&2; exit 1; }
[ -d "$photos" ] && [ -n "$(ls -A "$photos")" ] || "$here/fetch-photos.sh" "$photos"
if [ -z "${EASEL:-}" ]; then
  (cd "$root" && cargo build --release -p easel)
  EASEL=${CARGO_TARGET_DIR:-$root/target}/release/easel
fi
exec /usr/bin/python3 "$here/bench.py" --easel "$EASEL" --photos "$photos" --out "$root/bench/out/image" "$@"
