#!/usr/bin/env bash
# Service-core benchmark (issue 2), on loopback only:
#  1. no-op jobs per second through the SQLite queue, end to end: N jobs submitted over
#     HTTP by `hey`, timed until the last one is COMPLETED (read from /metrics);
#  2. latency p50/p99 of presign (POST /v1/uploads) and job status (GET /v1/jobs/{id})
#     at a fixed request rate, with the error count.
# Each measurement runs ROUNDS times against a fresh data directory; medians are printed.
# Usage: bench/queue/run.sh [JOBS] [RATE]   (defaults: 10000 jobs, 1000 requests/s)
set -euo pipefail
cd "$(dirname "$0")/../.."
SUBMITTERS=32
# hey sends n/c requests per worker, so keep JOBS a multiple of the submitters.
JOBS=$(( ${1:-10016} / SUBMITTERS * SUBMITTERS ))
RATE=${2:-1000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18181}
BASE="http://127.0.0.1:$PORT"

for tool in hey bc; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
# EASEL=path/to/easel skips the build (e.g. a binary built elsewhere).
if [ -z "${EASEL:-}" ]; then
  scripts/install-deps
  cargo build --release --locked -p easel >/dev/null 2>&1
  EASEL=target/release/easel
fi
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_server() {
  rm -rf "$WORK/data"
  # auth.mode = none (allowed on loopback) and a plan whose rate limit the load cannot
  # reach: this measures the queue and the HTTP path, not sign-in or throttling.
  EASEL__AUTH__MODE=none EASEL__PLANS__DEFAULT__RATE_PER_SEC=1000000 \
    EASEL__PLANS__DEFAULT__BURST=1000000 EASEL__LOG__LEVEL=warn "$EASEL" serve --data-dir "$WORK/data" --bind "127.0.0.1:$PORT" \
    >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "$BASE/readyz" >/dev/null && return; sleep 0.1; done
  echo "easel did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill -INT "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
completed() { curl -s "$BASE/metrics" | awk '/^easel_jobs\{status="COMPLETED"\}/ {print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# hey prints "  99% in 0.0012 secs"; prints the value in milliseconds.
percentile() { awk -v p="$1%" '$1 == p && $2 == "in" {printf "%.3f\n", $3 * 1000}'; }
errors() { awk '/^Status code distribution:/ {s=1; next} s && /\[/ {gsub(/[\[\]]/, ""); if ($1 !~ /^2/) e += $2} /^Error distribution:/ {s=0; x=1; next} x && /\[/ {gsub(/[\[\]]/, ""); e += $1} END {print e + 0}'; }

echo "== no-op jobs end to end: $JOBS jobs, $SUBMITTERS concurrent submitters, $ROUNDS rounds"
rates=()
for round in $(seq "$ROUNDS"); do
  start_server
  t0=$(date +%s.%N)
  hey -n "$JOBS" -c "$SUBMITTERS" -m POST -T application/json -d '{"kind":"noop"}' "$BASE/v1/jobs" >"$WORK/hey-jobs.txt"
  until [ "$(completed)" = "$JOBS" ]; do sleep 0.02; done
  t1=$(date +%s.%N)
  rate=$(echo "$JOBS / ($t1 - $t0)" | bc -l)
  printf '  round %d: %.0f jobs/s (submit errors: %s)\n' "$round" "$rate" "$(errors <"$WORK/hey-jobs.txt")"
  rates+=("$rate")
  stop_server
done
printf 'no-op jobs/s, median: %.0f   (target >= 2000)\n' "$(printf '%s\n' "${rates[@]}" | median)"

latency() { # name, then hey arguments
  local name=$1; shift
  local p50s=() p99s=() errs=()
  for round in $(seq "$ROUNDS"); do
    # hey's -q is per worker: 20 workers × RATE/20 = RATE requests/s for 10 s.
    hey -z 10s -c 20 -q $((RATE / 20)) "$@" >"$WORK/hey.txt"
    p50s+=("$(percentile 50 <"$WORK/hey.txt")")
    p99s+=("$(percentile 99 <"$WORK/hey.txt")")
    errs+=("$(errors <"$WORK/hey.txt")")
    rps=$(awk '/Requests\/sec:/ {print $2}' "$WORK/hey.txt")
    printf '  %s round %d: %s req/s, p50 %s ms, p99 %s ms, errors %s\n' "$name" "$round" "$rps" "${p50s[-1]}" "${p99s[-1]}" "${errs[-1]}"
  done
  printf '%s at %s req/s: p50 %s ms, p99 %s ms (medians), errors %s\n' "$name" "$RATE" \
    "$(printf '%s\n' "${p50s[@]}" | median)" "$(printf '%s\n' "${p99s[@]}" | median)" \
    "$(printf '%s\n' "${errs[@]}" | awk '{s+=$1} END {print s}')"
}

echo "== API latency at $RATE requests/s"
start_server
latency presign -m POST -T application/json -d '{"filename":"a.jpg","contentType":"image/jpeg"}' "$BASE/v1/uploads"
JOB_ID=$(curl -s -X POST "$BASE/v1/jobs" -H 'content-type: application/json' -d '{"kind":"noop"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')
latency job-status "$BASE/v1/jobs/$JOB_ID"
stop_server
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d)"
