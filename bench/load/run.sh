#!/usr/bin/env bash
# Mixed-traffic load test: one `easel serve` (release build, SQLite, in-process workers,
# local auth with a real user's API key) takes DURATION seconds (default 60) of traffic
# at RATE requests a second in all (default 1000), from five `hey` load generators at
# once, each at a fixed rate (hey's -q per connection × -c):
#   presign   POST /v1/uploads                        25 % of RATE
#   submit    POST /v1/jobs (a no-op job)              14 %
#   process   POST /v1/jobs (a thumbnail of a PNG)      1 %
#   status    GET  /v1/jobs/{id}                       50 %
#   events    GET  /v1/jobs/{id}/events (SSE, a finished job: one event, then the end) 5 %
#   generate  POST /v1/generations?wait=30 (the classic engine inpaints a 64×48 PNG) 5 %
# It prints per route the requests, p50/p99 latency and the answers that were not 2xx
# (5xx apart), the server's RSS and open file descriptors before the load and after it
# settles, and fails if any answer was a 5xx or a connection error.
# (hey rather than wrk or oha: Debian packages it, and it holds a fixed rate and counts
# status codes; wrk cannot hold a rate and oha is not packaged.)
# Usage: bench/load/run.sh [DURATION] [RATE]     EASEL=path skips the build, PORT=18282
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-60}
RATE=${2:-1000}
PORT=${PORT:-18282}
BASE="http://127.0.0.1:$PORT"

for tool in hey curl python3 bc; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
if [ -z "${EASEL:-}" ]; then
  scripts/install-deps
  cargo build --release --locked -p easel >/dev/null 2>&1
  EASEL=target/release/easel
fi
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export EASEL__STORAGE__DATA_DIR="$WORK/data" EASEL__LOG__LEVEL=warn \
  EASEL__PLANS__DEFAULT__RATE_PER_SEC=1000000 EASEL__PLANS__DEFAULT__BURST=1000000
"$EASEL" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/readyz" >/dev/null || { echo "easel did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

# A real user and an API key: every request is authenticated as in production.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -sf -X POST "$BASE/v1/auth/sign-up" -H 'content-type: application/json' \
  -d '{"email":"load@example.com","password":"Corr3ct-horse!"}' >/dev/null
TOKEN=$(curl -sf -X POST "$BASE/v1/auth/sign-in" -H 'content-type: application/json' \
  -d '{"username":"load@example.com","password":"Corr3ct-horse!"}' | json "['accessToken']")
KEY=$(curl -sf -X POST "$BASE/v1/keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"load"}' | json "['key']")
auth=(-H "x-api-key: $KEY")

# The inputs: a 64×48 PNG uploaded once, a finished job to read, an inpainting body.
python3 - "$WORK" <<'PY'
import base64, json, struct, sys, zlib
def png(w, h, shade):
    rows = b"".join(b"\0" + b"".join(bytes([(x * 4) % 256, shade, 128]) for x in range(w)) for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
def mask(w, h):
    rows = b"".join(b"\0" + bytes(0 if 20 <= x < 40 and 10 <= y < 30 else 255 for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
work = sys.argv[1]
open(f"{work}/a.png", "wb").write(png(64, 48, 90))
body = {
    "taskType": "INPAINTING",
    "inPaintingParams": {
        "image": base64.b64encode(png(64, 48, 90)).decode(),
        "maskImage": base64.b64encode(mask(64, 48)).decode(),
        "text": "a lighthouse",
    },
    "imageGenerationConfig": {"numberOfImages": 1},
}
open(f"{work}/generate.json", "w").write(json.dumps(body))
PY
presigned=$(curl -sf -X POST "$BASE/v1/uploads" "${auth[@]}" -H 'content-type: application/json' \
  -d '{"filename":"a.png","contentType":"image/png"}')
UPLOAD_URL=$(echo "$presigned" | json "['url']")
KEY_NAME=$(echo "$presigned" | json "['key']")
curl -sf -X PUT "$UPLOAD_URL" -H 'content-type: image/png' --data-binary "@$WORK/a.png" >/dev/null
PROCESS_BODY="{\"sources\":[\"$KEY_NAME\"],\"preset\":\"thumbnail\"}"
JOB=$(curl -sf -X POST "$BASE/v1/jobs" "${auth[@]}" -H 'content-type: application/json' \
  -d "$PROCESS_BODY" | json "['jobId']")
for _ in $(seq 100); do
  [ "$(curl -sf "$BASE/v1/jobs/$JOB" "${auth[@]}" | json "['status']")" = COMPLETED ] && break
  sleep 0.1
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
fds() { find "/proc/$SERVER/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
RSS_BEFORE=$(rss_kib)
FDS_BEFORE=$(fds)

# load NAME SHARE_PERCENT hey-args…: one generator at SHARE % of RATE, in the background.
# hey's rate is per connection: connections × 10 requests/s each.
load() {
  local name=$1 share=$2
  shift 2
  local per_second=$((RATE * share / 100))
  local connections=$(((per_second + 9) / 10))
  hey -z "${DURATION}s" -c "$connections" -q 10 -t 60 "${auth[@]}" "$@" >"$WORK/$name.txt" 2>&1 &
  pids+=($!)
}
pids=()
load presign 25 -m POST -T application/json -d '{"filename":"a.png","contentType":"image/png"}' "$BASE/v1/uploads"
load submit 14 -m POST -T application/json -d '{"kind":"noop"}' "$BASE/v1/jobs"
load process 1 -m POST -T application/json -d "$PROCESS_BODY" "$BASE/v1/jobs"
load status 50 "$BASE/v1/jobs/$JOB"
load events 5 "$BASE/v1/jobs/$JOB/events"
load generate 5 -m POST -T application/json -D "$WORK/generate.json" "$BASE/v1/generations?wait=30"
for pid in "${pids[@]}"; do wait "$pid"; done

# Let the queue drain and connections close before the second reading.
for _ in $(seq 120); do
  waiting=$(curl -sf "$BASE/metrics" | awk '/^easel_queue_depth / {print $2}')
  [ "${waiting:-0}" = 0 ] && break
  sleep 0.5
done
sleep 5
RSS_AFTER=$(rss_kib)
FDS_AFTER=$(fds)

# hey prints "  99% in 0.0012 secs"; printed in milliseconds.
percentile() { awk -v p="$1%" '$1 == p && $2 == "in" {printf "%.1f", $3 * 1000}'; }
count() { awk '/^Status code distribution:/ {s=1; next} s && /\[/ {gsub(/[\[\]]/, ""); n += $2} END {print n + 0}'; }
status_count() { awk -v want="$1" '/^Status code distribution:/ {s=1; next} s && /\[/ {gsub(/[\[\]]/, ""); if ($1 ~ want) n += $2} END {print n + 0}'; }
conn_errors() { awk '/^Error distribution:/ {x=1; next} x && /\[/ {gsub(/[\[\]]/, ""); e += $1} END {print e + 0}'; }

echo "Easel under mixed load: ${DURATION} s at ${RATE} requests/s in all ($(nproc) cores, $(date -u +%F))"
printf '%-9s %9s %8s %9s %9s %8s %6s %7s\n' route requests 'req/s' 'p50 ms' 'p99 ms' 'non-2xx' 5xx 'conn err'
failed=0
for name in presign submit process status events generate; do
  file="$WORK/$name.txt"
  n=$(count <"$file")
  non2xx=$(( n - $(status_count '^2' <"$file") ))
  server=$(status_count '^5' <"$file")
  errs=$(conn_errors <"$file")
  printf '%-9s %9d %8.1f %9s %9s %8d %6d %7d\n' "$name" "$n" "$(echo "$n / $DURATION" | bc -l)" \
    "$(percentile 50 <"$file")" "$(percentile 99 <"$file")" "$non2xx" "$server" "$errs"
  [ "$server" -eq 0 ] && [ "$errs" -eq 0 ] || failed=1
done
printf 'server RSS: %d MiB before, %d MiB after; open file descriptors: %d before, %d after\n' \
  $((RSS_BEFORE / 1024)) $((RSS_AFTER / 1024)) "$FDS_BEFORE" "$FDS_AFTER"
if [ "$failed" -ne 0 ]; then
  echo "FAILED: 5xx answers or connection errors (hey's reports follow)" >&2
  for name in presign submit process status events generate; do
    echo "--- $name" >&2
    sed -n '/Status code distribution/,$p' "$WORK/$name.txt" >&2
  done
  tail -20 "$WORK/server.log" >&2
  exit 1
fi
