"""Upload -> trigger -> processed output, filesystem store vs S3 (s3s-fs on loopback),
in one run on the same photos.

For each store, one `easel serve --no-workers` (the API process) and one `easel worker`
run on a fresh SQLite database with an upload trigger (`uploads/bench/` -> the
`thumbnail` preset). A client uploads N photos, CONCURRENCY at a time, the way the web
UI does: presign (POST /v1/uploads with the size) -> PUT the bytes to the URL (Easel's
own /o/ route on the filesystem store, straight to the store on S3) -> report it (POST
/v1/uploads/complete), which fires the trigger. The clock stops when every triggered job
is COMPLETED. Printed per store (medians of ROUNDS): end-to-end images/s, and the API
process's CPU per upload (user+system from /proc), which should fall on S3 since the
API no longer carries the bytes. Then the ratios S3/filesystem.

Usage: python3 bench/uploads/bench.py EASEL_BINARY PHOTO_DIR S3_ENDPOINT
Environment: UPLOADS (200), CONCURRENCY (8), ROUNDS (3), PORT (18282).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

EASEL, PHOTOS, S3 = sys.argv[1], sys.argv[2], sys.argv[3]
UPLOADS = int(os.environ.get("UPLOADS", "200"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PORT = int(os.environ.get("PORT", "18282"))
BASE = f"http://127.0.0.1:{PORT}"
TICKS = os.sysconf("SC_CLK_TCK")


def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if isinstance(body, dict):
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read()
        if not text or "json" not in response.headers.get("content-type", ""):
            return None
        return json.loads(text)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(store, work):
    env = dict(os.environ)
    env.update({
        "EASEL__AUTH__MODE": "none",
        "EASEL__PLANS__DEFAULT__RATE_PER_SEC": "100000",
        "EASEL__PLANS__DEFAULT__BURST": "100000",
        "EASEL__LOG__LEVEL": "warn",
        "EASEL__STORAGE__DATA_DIR": work,
        "EASEL__SERVER__BIND": f"127.0.0.1:{PORT}",
        "EASEL__WORKERS__POLL_INTERVAL_MS": "100",
        "EASEL_CONFIG": os.path.join(work, "easel.toml"),
    })
    with open(env["EASEL_CONFIG"], "w") as config:
        config.write('[[triggers]]\nprefix = "uploads/bench/"\npreset = "thumbnail"\n')
    if store == "s3":
        env.update({
            "EASEL__STORAGE__BLOBS_URL": f"s3://easel-test?endpoint={S3}&region=us-east-1"
            f"&path_style=true&prefix=bench-{uuid.uuid4().hex}",
            "AWS_ACCESS_KEY_ID": "easel-test",
            "AWS_SECRET_ACCESS_KEY": "easel-test-secret",
        })
    api = subprocess.Popen([EASEL, "serve", "--no-workers"], env=env, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            call("GET", f"{BASE}/healthz")
            break
        except OSError:
            time.sleep(0.05)
    worker = subprocess.Popen([EASEL, "worker"], env=env, cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return api, worker


def upload(photo, jobs, lock):
    data = open(photo, "rb").read()
    presigned = call("POST", f"{BASE}/v1/uploads", {
        # A short name: s3s-fs names its staging files after the whole key and fails
        # past 255 bytes ("File name too long"), a limit of that peer, not of S3.
        "filename": "photo.jpg", "contentType": "image/jpeg",
        "size": len(data), "folder": "bench"})
    headers = {k: v for k, v in presigned["headers"].items() if k != "content-length"}
    # Easel's own route takes the upload in as it stores it (and answers the trigger's
    # job); S3 answers nothing, and the completion call takes it in.
    stored = call("PUT", presigned["url"], data, headers)
    done = call("POST", f"{BASE}/v1/uploads/complete",
                {"bucket": "uploads", "key": presigned["key"]})
    triggered = (stored or {}).get("triggeredJobs", []) + done["triggeredJobs"]
    with lock:
        jobs.extend(triggered)


def run(store, photos):
    with tempfile.TemporaryDirectory() as work:
        api, worker = start(store, work)
        try:
            jobs, lock, queue = [], threading.Lock(), list(range(UPLOADS))
            cpu_before = cpu_seconds(api.pid)
            began = time.monotonic()

            def client():
                while True:
                    with lock:
                        if not queue:
                            return
                        i = queue.pop()
                    upload(photos[i % len(photos)], jobs, lock)

            threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            pending = set(jobs)
            while pending:
                for job in list(pending):
                    view = call("GET", f"{BASE}/v1/jobs/{job}")
                    if view["status"] == "COMPLETED":
                        pending.discard(job)
                    elif view["status"] in ("FAILED", "CANCELLED"):
                        raise SystemExit(f"job {job} {view['status']}: {view}")
                time.sleep(0.2)
            elapsed = time.monotonic() - began
            # The API's CPU while uploads were taken in, per upload (the polling above
            # costs it a little on both stores alike).
            cpu = cpu_seconds(api.pid) - cpu_before
            assert len(jobs) == UPLOADS, f"{len(jobs)} trigger jobs for {UPLOADS} uploads"
            return UPLOADS / elapsed, cpu * 1000 / UPLOADS
        finally:
            for process in (worker, api):
                process.terminate()
                process.wait()


def main():
    photos = sorted(os.path.join(PHOTOS, p) for p in os.listdir(PHOTOS)
                    if p.lower().endswith((".jpg", ".jpeg")))
    total = sum(os.path.getsize(photos[i % len(photos)]) for i in range(UPLOADS))
    print(f"{UPLOADS} uploads of {len(photos)} real photos ({total / 1e6:.0f} MB), "
          f"{CONCURRENCY} at a time, trigger -> thumbnail; {ROUNDS} rounds, medians")
    results = {}
    for store in ("fs", "s3"):
        rates, cpus = [], []
        for _ in range(ROUNDS):
            rate, cpu = run(store, photos)
            rates.append(rate)
            cpus.append(cpu)
        results[store] = (statistics.median(rates), statistics.median(cpus))
        print(f"  {store:3} {results[store][0]:6.1f} images/s end to end, "
              f"API CPU {results[store][1]:6.2f} ms per upload "
              f"(rounds: {', '.join(f'{r:.1f}' for r in rates)} images/s)")
    print(f"  S3/fs: throughput x{results['s3'][0] / results['fs'][0]:.2f}, "
          f"API CPU per upload x{results['s3'][1] / results['fs'][1]:.2f}")


main()
