#!/usr/bin/env bash
# Easel's diffusion engine vs PyTorch diffusers on the CPU, one run, same input: an
# SD-Turbo-architecture model with the same random weights (written by diffusers from
# config dicts, loaded by both), the same thread count, 512×512, 1 step, no guidance.
# Reports text encoding, UNet step, VAE decode, whole image (medians after a warm-up)
# and peak RSS of each process, with Easel/diffusers ratios.
# Usage: bench/diffusion/run.sh [RUNS=5] [SIZE=512] [STEPS=1]
# THREADS (default: all cores) sets both sides' thread count. Installs torch, diffusers,
# transformers and safetensors into target/diffusers-venv (PyPI; torch is ~3 GB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-5}
size=${2:-512}
steps=${3:-1}
threads=${THREADS:-$(nproc)}
venv=${DIFFUSERS_VENV:-$root/target/diffusers-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import torch, diffusers, transformers, safetensors' 2>/dev/null \
  || "$venv/bin/pip" install -q torch diffusers transformers safetensors
model=$root/target/bench-sd-turbo-random
if [ ! -f "$model/model_index.json" ]; then
  echo "writing an SD-Turbo-architecture model with random weights to $model" >&2
  "$venv/bin/python" "$here/bench.py" make "$model"
fi
(cd "$root" && cargo build --release -p easel-diffusion --example bench)
easel_bench=${CARGO_TARGET_DIR:-$root/target}/release/examples/bench

echo "threads=$threads runs=$runs size=${size}x$size steps=$steps" >&2
easel=$(RAYON_NUM_THREADS=$threads "$easel_bench" "$model" "$runs" "$size" "$steps")
torch=$(OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads \
  "$venv/bin/python" "$here/bench.py" run "$model" "$runs" "$size" "$steps" "$threads")
python3 - "$easel" "$torch" <<'PY'
import json, sys
e, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"torch {t['torch']}; medians of {e['runs']} runs; ratio = Easel / diffusers (< 1: Easel faster or smaller)")
print(f"{'':16}{'Easel':>12}{'diffusers':>12}{'ratio':>8}")
for key, label in [("text_s", "text encode s"), ("unet_step_s", "UNet step s"),
                   ("vae_decode_s", "VAE decode s"), ("image_s", "whole image s"),
                   ("load_s", "load s")]:
    print(f"{label:16}{e[key]:12.3f}{t[key]:12.3f}{e[key] / t[key]:8.2f}")
mib = 1 << 20
print(f"{'peak RSS MiB':16}{e['peak_rss_bytes'] / mib:12.0f}{t['peak_rss_bytes'] / mib:12.0f}"
      f"{e['peak_rss_bytes'] / t['peak_rss_bytes']:8.2f}")
PY
