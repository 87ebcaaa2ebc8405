#!/usr/bin/env bash
# Upload -> trigger -> processed output on the filesystem store and on S3 (s3s-fs on
# loopback) in one run, on the real photos of bench/image/fetch-photos.sh (fetched once
# into bench/photos). See bench.py for what is measured.
# Usage: bench/uploads/run.sh   (UPLOADS=200 CONCURRENCY=8 ROUNDS=3; EASEL=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${EASEL:-}" ]; then
  scripts/install-deps
  cargo build --release --locked -p easel >/dev/null 2>&1
  EASEL=target/release/easel
fi
[ -d bench/photos ] || bench/image/fetch-photos.sh bench/photos
S3=$(scripts/s3)
python3 bench/uploads/bench.py "$EASEL" bench/photos "$S3"
