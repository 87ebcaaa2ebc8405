#!/usr/bin/env bash
# Object detection, Easel vs onnxruntime's CPU provider, in one run on the same inputs:
# nudenet's YOLOv8 detector (PyPI) letterboxed to 320 (its size) and 640, 1 and 2
# threads, on the real photo corpus (bench/image/fetch-photos.sh). Easel letterboxes
# each photo and dumps the network input; onnxruntime runs the very same tensors.
# Prints per-image median network latency (median over photos of each photo's median
# of RUNS), the ratio Easel / onnxruntime, and each side's peak RSS. Then the whole
# job: `easel process` of the corpus with `detect` + fit 1600 against fit 1600 alone.
#
# Usage: bench/detect/run.sh [--network-only] [RUNS] [PHOTOS]   (defaults: 5, every
# photo; --network-only skips the whole job, which builds the full easel binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
network_only=false
if [ "${1:-}" = --network-only ]; then
  network_only=true
  shift
fi
runs=${1:-5}
limit=${2:-1000}
fixtures=$(scripts/detect-fixtures)
python=$fixtures/python
model=$fixtures/nudenet-320n.onnx
bench/image/fetch-photos.sh >/dev/null
cargo build --release -q -p easel-detect --example detect
$network_only || cargo build --release -q -p easel --no-default-features
detect=target/release/examples/detect
easel=target/release/easel
photos=$(ls bench/photos/*.jpg | head -n "$limit")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "photos: $(echo "$photos" | wc -l); runs per image: $runs"
printf '%-6s %-7s %12s %12s %8s %14s %14s\n' side threads easel_ms ort_ms ratio easel_rss_mib ort_rss_mib
for side in 320 640; do
  for threads in 1 2; do
    dir=$work/$side-$threads
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    RAYON_NUM_THREADS=$threads /usr/bin/time -f '%M' -o "$dir/rss" \
      "$detect" "$model" $photos --side "$side" --runs "$runs" --dump "$dir" >"$dir/easel.jsonl" 2>/dev/null
    "$python" bench/detect/ort_bench.py "$model" "$dir" "$side" "$threads" "$runs" >"$dir/ort.json"
    "$python" - "$dir" "$side" "$threads" <<'PY'
import json, statistics, sys, pathlib
d, side, threads = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
ours = {pathlib.Path(json.loads(l)["image"]).stem: json.loads(l)["network_ms"] for l in open(d / "easel.jsonl")}
ort = json.load(open(d / "ort.json"))
theirs = ort["ms"]
common = sorted(set(ours) & set(theirs))
e = statistics.median(ours[k] for k in common)
o = statistics.median(theirs[k] for k in common)
ratios = statistics.median(ours[k] / theirs[k] for k in common)
rss = int(open(d / "rss").read().split()[-1]) / 1024
print(f"{side:<6} {threads:<7} {e:12.1f} {o:12.1f} {e / o:7.2f}x {rss:14.0f} {ort['peak_mib']:14.0f}   (median of per-photo ratios {ratios:.2f}x)")
PY
  done
done
$network_only && exit 0
cat >"$work/config.toml" <<TOML
[detection.models.nudenet]
path = "$model"
input_size = 640
TOML
for threads in 1 2; do
  for pipeline in '{"ops":[{"op":"resize","width":1600,"height":1600}],"output":{"format":"jpeg"}}' \
                  '{"ops":[{"op":"detect","model":"nudenet"},{"op":"resize","width":1600,"height":1600}],"output":{"format":"jpeg"}}'; do
    rm -rf "$work/out"
    started=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$easel" --config "$work/config.toml" process --jobs "$threads" --pipeline "$pipeline" --out-dir "$work/out" $photos >/dev/null 2>&1
    echo "process, $threads jobs, $(echo "$pipeline" | grep -q detect && echo 'detect + fit 1600' || echo 'fit 1600         '): $(echo "$(date +%s.%N) - $started" | bc) s"
  done
done
