#!/usr/bin/python3
"""Image engine benchmark: Easel vs vipsthumbnail, Pillow (+draft) and ImageMagick.

Runs tasks (a) fit 800x800 JPEG q85 stripped, (b) fill 256x256 WebP, (c) (a) plus a
text watermark, (d) the `web` preset, each with 1 and 2 threads, on the same photos;
(e) the `web` preset on HEIC copies of the photos (made once with heif-enc into
PHOTOS/heic) and (f) fit 800x800 to AVIF, both against vipsthumbnail only (Pillow and
ImageMagick here read no HEIC and write no AVIF).
Prints a Markdown report (also written to OUT/results.md). Use run.sh to call it.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = "\u00a9 Easel"

EASEL = {
    "a": {"ops": [{"op": "resize", "width": 800, "height": 800}], "output": {"format": "jpeg", "quality": 85}},
    "b": {"ops": [{"op": "resize", "width": 256, "height": 256, "mode": "fill"}], "output": {"format": "webp", "quality": 80}},
    "c": {"ops": [{"op": "resize", "width": 800, "height": 800},
                  {"op": "watermark_text", "text": TEXT, "size": 0.05, "opacity": 0.5, "gravity": "southeast", "margin": 0.02}],
          "output": {"format": "jpeg", "quality": 85}},
    "d": None,  # --preset web
    "e": None,  # --preset web, on HEIC input
    # AVIF quality 60 at libaom speed 8 (Easel's defaults); vips's effort 1 is speed 8.
    "f": {"ops": [{"op": "resize", "width": 800, "height": 800}], "output": {"format": "avif", "quality": 60, "speed": 8}},
}
VIPS = {"a": (["-s", "800x800>"], "jpg[Q=85,strip]"), "b": (["-s", "256x256", "-m", "centre"], "webp[Q=80,strip]"),
        "c": None, "d": (["-s", "1600x1600>"], "jpg[Q=82,strip]"), "e": (["-s", "1600x1600>"], "jpg[Q=82,strip]"),
        "f": (["-s", "800x800>"], "avif[Q=60,effort=1,compression=av1,strip]")}
TASKS = {"a": "fit 800x800, JPEG q85, strip", "b": "fill 256x256, WebP q80", "c": "(a) + text watermark", "d": "`web` preset (fit 1600x1600, JPEG q82)",
         "e": "HEIC input, `web` preset (fit 1600x1600, JPEG q82)", "f": "fit 800x800, AVIF q60, libaom speed 8"}
# Tasks whose only peer is vipsthumbnail.
VIPS_ONLY = "ef"


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (wall s, peak RSS MiB, stdout, stderr)."""
    with tempfile.NamedTemporaryFile(mode="r") as rss:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd, capture_output=True, text=True,
                           env={**os.environ, **(env or {})})
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd[:3])}...\n{p.stderr[-2000:]}")
        return wall, int(rss.read().split()[-1]) / 1024, p.stdout, p.stderr


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def run_easel(a, task, files, threads, out, easel=None):
    what = ["--preset", "web"] if task in "de" else ["--pipeline", json.dumps(EASEL[task])]
    wall, rss, _, err = timed([easel or a.easel, "process", *files, "-o", fresh(out), "-j", str(threads), *what])
    per = [float(l.rsplit("(", 1)[1].split(" ms")[0]) for l in err.splitlines() if l.startswith("ok: ")]
    return wall, rss, per


def run_vips(files, task, threads, out, procs):
    """One vipsthumbnail invocation over all files (libvips's own threads), or with
    procs > 1 one single-threaded invocation per share of the files; peak RSS is then
    the sum of the processes' peaks (an upper bound on what they held together)."""
    args, fmt = VIPS[task]
    fresh(out)
    chunks = [files[i::procs] for i in range(procs)]
    env = {**os.environ, "VIPS_CONCURRENCY": str(threads if procs == 1 else 1)}
    t0 = time.perf_counter()
    ps = []
    for c in chunks:
        rss = tempfile.NamedTemporaryFile(mode="r")
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, "vipsthumbnail", *c, *args, "-o", f"{out}/%s.{fmt}"]
        ps.append((subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE), rss))
    total_rss = 0.0
    for p, rss in ps:
        p.wait()
        total_rss += int(rss.read().split()[-1]) / 1024
    wall = time.perf_counter() - t0
    # Per-image time: one invocation per file (includes process start-up, ~10 ms).
    per = []
    if threads == 1:
        for f in files:
            t0 = time.perf_counter()
            subprocess.run(["vipsthumbnail", f, *args, "-o", f"{out}/%s.{fmt}"], env={**os.environ, "VIPS_CONCURRENCY": "1"})
            per.append((time.perf_counter() - t0) * 1000)
    return wall, total_rss, per


def run_pillow(files, task, threads, out, draft=True):
    cmd = ["/usr/bin/python3", f"{HERE}/peer_pillow.py", "--task", task, "--threads", str(threads), "--out", fresh(out)]
    wall, rss, stdout, _ = timed(cmd + ([] if draft else ["--no-draft"]) + files)
    return wall, rss, [float(l.split("\t")[1]) for l in stdout.splitlines()]


def magick_args(f, task):
    with Image.open(f) as im:
        w, _ = im.size
    box = {"a": 800, "c": 800, "d": 1600}.get(task)
    if task == "b":
        return ["-define", "jpeg:size=512x512", f, "-auto-orient", "-thumbnail", "256x256^", "-gravity", "center",
                "-extent", "256x256", "-strip", "-quality", "80"], "webp"
    args = ["-define", f"jpeg:size={2 * box}x{2 * box}", f, "-auto-orient", "-thumbnail", f"{box}x{box}>", "-strip",
            "-quality", "82" if task == "d" else "85"]
    if task == "c":
        ow = min(w, box)
        args += ["-gravity", "southeast", "-font", f"{HERE}/../../crates/easel-image/assets/DejaVuSans-Bold.ttf",
                 "-pointsize", str(round(0.05 * ow * 72 / 72)), "-fill", "rgba(255,255,255,0.5)",
                 "-annotate", f"+{round(0.02 * ow)}+{round(0.02 * ow)}", TEXT]
    return args, "jpg"


def run_magick(files, task, threads, out):
    fresh(out)

    def one(f):
        args, ext = magick_args(f, task)
        stem = os.path.splitext(os.path.basename(f))[0]
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f"{out}/{stem}.rss", "/usr/bin/convert", *args,
                        f"{out}/{stem}.{ext}"], check=True, env={**os.environ, "MAGICK_THREAD_LIMIT": "1"})
        return (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        per = list(pool.map(one, files))
    wall = time.perf_counter() - t0
    rss = max(int(open(p).read().split()[-1]) for p in glob.glob(f"{out}/*.rss")) / 1024
    return wall, rss, per


def ssim(a, b):
    """Mean SSIM of two greyscale float arrays (7x7 uniform windows)."""
    def box(x, k=7):
        c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), 0), 1)
        return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = box(a), box(b)
    va, vb, cov = box(a * a) - ma * ma, box(b * b) - mb * mb, box(a * b) - ma * mb
    return float(np.mean(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))))


def open_image(path, scratch):
    """PIL image of `path`; AVIF (which Pillow 9 cannot read) goes through avifdec."""
    if path.endswith(".avif"):
        png = os.path.join(scratch, f"{len(os.listdir(scratch))}.png")
        subprocess.run(["avifdec", path, png], check=True, capture_output=True)
        path = png
    return Image.open(path)


def heic_copies(files, photos):
    """HEIC copies of the photos (x265 at quality 80, preset fast), made once."""
    out = os.path.join(photos, "heic")
    os.makedirs(out, exist_ok=True)

    def one(f):
        dest = os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".heic")
        if not os.path.exists(dest):
            subprocess.run(["heif-enc", "-q", "80", "-p", "preset=fast", "-o", dest + ".tmp", f],
                           check=True, capture_output=True)
            os.rename(dest + ".tmp", dest)
        return dest

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, files))


def quality(easel_dir, ref_dir, files, expected):
    """Dimension check against the expected size, and SSIM/PSNR against libvips."""
    right, ss, ps = 0, [], []
    scratch = tempfile.mkdtemp()
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        e = glob.glob(f"{easel_dir}/{stem}.*")
        r = [p for p in glob.glob(f"{ref_dir}/{stem}.*") if not p.endswith(".rss")]
        if not e:
            continue
        with open_image(e[0], scratch) as ei:
            if ei.size == expected(f):
                right += 1
            if r:
                with open_image(r[0], scratch) as ri:
                    if ri.size == ei.size:
                        x = np.asarray(ei.convert("L"), dtype=np.float64)
                        y = np.asarray(ri.convert("L"), dtype=np.float64)
                        ss.append(ssim(x, y))
                        mse = np.mean((x - y) ** 2)
                        ps.append(99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse))
    shutil.rmtree(scratch)
    return right, (statistics.median(ss) if ss else None), (statistics.median(ps) if ps else None), len(ss)


def expected_size(task, sources):
    """Expected output size per input; HEIC copies are sized from their JPEG source
    (heif-enc keeps its EXIF orientation without irot, and HEIF readers ignore it)."""
    def f(path):
        src = sources.get(path, path)
        with Image.open(src) as im:
            w, h = im.size
            if src == path and im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
        if task == "b":
            return (min(256, w), min(256, h)) if max(256 / w, 256 / h) > 1 else (256, 256)
        box = 1600 if task in "de" else 800
        s = min(box / w, box / h, 1.0)
        return (max(1, round(w * s)), max(1, round(h * s)))
    return f


def measure(a, task, inputs, files, threads):
    """One round: every tool once on the task at this thread count; name -> (wall s, peak RSS MiB, ms per image)."""
    results = {"easel": run_easel(a, task, inputs, threads, f"{a.out}/easel-{task}")}
    if a.baseline:
        results["easel (baseline)"] = run_easel(a, task, inputs, threads, f"{a.out}/easel-base-{task}",
                                                a.baseline)
    if VIPS[task]:
        results["vipsthumbnail"] = run_vips(inputs, task, threads, f"{a.out}/vips-{task}", 1)
        if threads > 1:
            results["vipsthumbnail, 2 processes"] = run_vips(inputs, task, threads, f"{a.out}/vips2-{task}", 2)
    if task not in VIPS_ONLY:
        results["Pillow + draft"] = run_pillow(files, task, threads, f"{a.out}/pillow-{task}")
    if task == "a":
        results["Pillow, no draft"] = run_pillow(files, task, threads, f"{a.out}/pillow-nodraft-{task}", draft=False)
    if not a.skip_magick and task not in VIPS_ONLY:
        results["ImageMagick"] = run_magick(files, task, threads, f"{a.out}/magick-{task}")
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--easel", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tasks", default="abcdef")
    ap.add_argument("--skip-magick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="rounds per task and thread count, tools "
                    "interleaved; total times are the rounds' medians (a shared machine's load comes and goes)")
    ap.add_argument("--baseline", help="an earlier easel binary, run in the same loop as a row "
                    "'easel (baseline)' that is no peer: before/after numbers from one run")
    a = ap.parse_args()
    files = sorted(glob.glob(f"{a.photos}/*.jp*g"))
    mp = [Image.open(f).size for f in files]
    lines = [f"Corpus: {len(files)} JPEGs, {min(w * h for w, h in mp) / 1e6:.2f}-{max(w * h for w, h in mp) / 1e6:.1f} MP, "
             f"{sum(os.path.getsize(f) for f in files) / 2 ** 20:.1f} MiB.", ""]
    heics = heic_copies(files, a.photos) if "e" in a.tasks else []
    sources = dict(zip(heics, files))
    if heics:
        lines += [f"HEIC copies for (e): {len(heics)} files, {sum(os.path.getsize(f) for f in heics) / 2 ** 20:.1f} MiB "
                  "(heif-enc -q 80 -p preset=fast: one HEVC image each, no grid).", ""]
    for task in a.tasks:
        rows = []
        inputs = heics if task == "e" else files
        for threads in (1, 2):
            rounds = [measure(a, task, inputs, files, threads) for _ in range(a.repeat)]
            results = {name: (statistics.median(r[name][0] for r in rounds), max(r[name][1] for r in rounds),
                              [ms for r in rounds for ms in r[name][2]]) for name in rounds[0]}
            fastest = min((v[0], k) for k, v in results.items() if not k.startswith("easel"))
            for name, (wall, rss, per) in results.items():
                med = f"{statistics.median(per):.1f}" if per else "-"
                ratio = f"{results['easel'][0] / wall:.2f}" if name == fastest[1] else ""
                rows.append(f"| {threads} | {name} | {wall:.2f} | {med} | {len(inputs) / wall:.1f} | {rss:.0f} | {ratio} |")
            per_round = ", ".join(f"{r['easel'][0] / r[fastest[1]][0]:.2f}" for r in rounds)
            rows.append(f"| {threads} | **Easel / fastest peer ({fastest[1]})** | **{results['easel'][0] / fastest[0]:.2f}x** "
                        f"| rounds: {per_round} | | | |")
            if a.baseline:
                per_round = ", ".join(f"{r['easel (baseline)'][0] / r[fastest[1]][0]:.2f}" for r in rounds)
                rows.append(f"| {threads} | Easel (baseline) / fastest peer | {results['easel (baseline)'][0] / fastest[0]:.2f}x "
                            f"| rounds: {per_round} | | | |")
        lines += [f"### Task ({task}): {TASKS[task]}", "",
                  "| threads | tool | total s | median ms/image | images/s | peak RSS MiB | Easel/this |",
                  "|---|---|---|---|---|---|---|", *rows, ""]
        ref = f"{a.out}/vips-{task}" if VIPS[task] else f"{a.out}/pillow-{task}"
        right, s, p, n = quality(f"{a.out}/easel-{task}", ref, inputs, expected_size(task, sources))
        refname = "libvips" if VIPS[task] else "Pillow"
        lines += [f"Quality: {right}/{len(inputs)} Easel outputs have the expected dimensions; vs {refname} on {n} same-size pairs: "
                  f"median SSIM {s:.4f}, median PSNR {p:.1f} dB." if s is not None else f"Quality: {right}/{len(inputs)} right dimensions.", ""]
        if a.baseline:
            _, bs, bp, bn = quality(f"{a.out}/easel-base-{task}", ref, inputs, expected_size(task, sources))
            lines += [f"Baseline binary vs {refname} on {bn} pairs: median SSIM {bs:.4f}, median PSNR {bp:.1f} dB."
                      if bs is not None else "Baseline binary: no same-size pairs.", ""]
        print("\n".join(lines[-10 - len(rows):]), flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(f"{a.out}/results.md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
