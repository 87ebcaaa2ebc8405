"""onnxruntime's side of bench/detect: runs MODEL on each letterboxed input Easel dumped
(`*.input.f32`, (1, 3, SIDE, SIDE) little-endian float32) with THREADS intra-op threads,
RUNS times after one warm-up, and prints one JSON line: per-image median milliseconds
and the process's peak RSS in MiB.

Usage: ort_bench.py MODEL INPUT_DIR SIDE THREADS RUNS
"""

import glob
import json
import resource
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

model, input_dir, side, threads, runs = sys.argv[1:]
side, threads, runs = int(side), int(threads), int(runs)
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
medians = {}
for path in sorted(glob.glob(f"{input_dir}/*.input.f32")):
    x = np.fromfile(path, dtype="<f4").reshape(1, 3, side, side)
    session.run(None, {name: x})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - started) * 1000)
    medians[path.rsplit("/", 1)[-1][: -len(".input.f32")]] = statistics.median(times)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ms": medians, "peak_mib": peak}))
