"""Classic inpainting (Easel) vs cv2.inpaint on the same 1024x1024 inputs with a 10% hole.

Prints, per scene: median time of 3 runs and PSNR inside the hole for Easel, OpenCV
Telea and OpenCV Navier-Stokes (radius 3), and the ratios Easel/Telea.
"""

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import cv2
import numpy as np

SIZE = 1024
HOLE = 324  # 324² ≈ 10% of 1024²
RUNS = 3


def scenes(photos):
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    out = {}
    stripes = ((x + y) // 24 % 2).astype(np.uint8)
    out["stripes"] = np.dstack([stripes * 180 + 40, stripes * 60 + 90, 200 - stripes * 120])
    out["gradient"] = np.dstack([x * 255 // SIZE, y * 255 // SIZE, (x + y) * 127 // SIZE])
    brick_row = y // 40
    brick = ((y % 40 < 4) | ((x + (brick_row % 2) * 50) % 100 < 4)).astype(np.uint8)
    out["bricks"] = np.dstack([150 - brick * 110, 70 - brick * 40, 50 - brick * 30])
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 18, (SIZE // 8, SIZE // 8, 3))
    noise = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    out["grass"] = np.clip(np.dstack([60 + 0 * x, 120 + 0 * x, 50 + 0 * x]) + noise, 0, 255)
    for path in photos:
        img = cv2.imread(path)[:, :, ::-1]
        h, w = img.shape[:2]
        side = min(h, w)
        crop = img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
        out[os.path.basename(path)] = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return {k: np.ascontiguousarray(v.astype(np.uint8)) for k, v in out.items()}


def hole_mask():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    a = (SIZE - HOLE) // 2
    mask[a:a + HOLE, a:a + HOLE] = 255
    return mask


def psnr(a, b, mask):
    diff = (a.astype(np.float64) - b.astype(np.float64))[mask > 0]
    mse = float(np.mean(diff ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def png_b64(rgb):
    ok, data = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=900) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{path}: {e.code} {e.read().decode()}")


def easel_inpaint(base, image, mask):
    titan_mask = np.where(mask > 0, 0, 255).astype(np.uint8)
    body = {
        "taskType": "INPAINTING",
        "inPaintingParams": {"image": png_b64(image), "maskImage": png_b64(np.dstack([titan_mask] * 3))},
        "imageGenerationConfig": {"numberOfImages": 1, "seed": 1},
        "engine": "classic",
    }
    started = time.perf_counter()
    entry = call(base, "/v1/generations?wait=300", body)
    wall = time.perf_counter() - started
    assert entry["status"] == "COMPLETED", entry
    with urllib.request.urlopen(entry["images"][0]["url"]) as r:
        out = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    log = call(base, "/v1/requests?limit=1")["items"][0]
    assert log["jobId"] == entry["id"]
    return out, log["latencyMs"] / 1000.0, wall


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--easel", required=True)
    p.add_argument("photos", nargs="*")
    args = p.parse_args()
    data = tempfile.mkdtemp(prefix="easel-inpaint-bench-")
    port = free_port()
    env = dict(os.environ, EASEL__AUTH__MODE="none", EASEL__SERVER__BIND=f"127.0.0.1:{port}",
               EASEL__STORAGE__DATA_DIR=data, EASEL__LOG__LEVEL="warn",
               EASEL__PLANS__DEFAULT__RATE_PER_SEC="1000", EASEL__PLANS__DEFAULT__BURST="1000")
    server = subprocess.Popen([args.easel, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        mask = hole_mask()
        print(f"{SIZE}x{SIZE}, hole {HOLE}x{HOLE} ({HOLE * HOLE / SIZE / SIZE:.1%}), median of {RUNS} runs, "
              f"OpenCV {cv2.__version__} threads={cv2.getNumThreads()}")
        print(f"{'scene':<28}{'easel s':>9}{'(http s)':>10}{'telea s':>9}{'ns s':>8}"
              f"{'easel dB':>10}{'telea dB':>10}{'ns dB':>8}{'time ×':>8}{'dB +':>7}")
        for name, truth in scenes(args.photos).items():
            holed = truth.copy()
            holed[mask > 0] = 0
            e_times, e_walls, t_times, n_times = [], [], [], []
            for _ in range(RUNS):
                out, engine_s, wall = easel_inpaint(base, holed, mask)
                e_times.append(engine_s)
                e_walls.append(wall)
                bgr = np.ascontiguousarray(holed[:, :, ::-1])
                t0 = time.perf_counter()
                telea = cv2.inpaint(bgr, mask, 3, cv2.INPAINT_TELEA)[:, :, ::-1]
                t_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ns = cv2.inpaint(bgr, mask, 3, cv2.INPAINT_NS)[:, :, ::-1]
                n_times.append(time.perf_counter() - t0)
            outside = mask == 0
            assert np.array_equal(out[outside], holed[outside]), "Easel changed pixels outside the hole"
            e, t, n = psnr(out, truth, mask), psnr(telea, truth, mask), psnr(ns, truth, mask)
            em, tm = statistics.median(e_times), statistics.median(t_times)
            print(f"{name[:27]:<28}{em:>9.2f}{statistics.median(e_walls):>10.2f}{tm:>9.2f}"
                  f"{statistics.median(n_times):>8.2f}{e:>10.1f}{t:>10.1f}{n:>8.1f}{em / tm:>8.1f}{e - t:>7.1f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
