#!/usr/bin/env bash
# Queue and API benchmark, on loopback only, SQLite and PostgreSQL in the same run:
#  1. no-op jobs per second end to end: N jobs submitted over HTTP by `hey`, timed until
#     the last one is COMPLETED (read from /metrics). SQLite: one `easel serve` with its
#     in-process workers. PostgreSQL: one `easel serve --no-workers` and 1, 2 and 4
#     `easel worker` processes on one database;
#  2. latency p50/p99 of presign (POST /v1/uploads) and job status (GET /v1/jobs/{id})
#     at a fixed request rate, with the error count, on each database.
# Each no-op measurement runs ROUNDS times on a fresh data directory / database;
# medians are printed. PostgreSQL is the one scripts/postgres finds (or EASEL_TEST_POSTGRES).
# Where the time goes, with PROFILE=1 (PostgreSQL rounds): the statements that took the
# database's time (pg_stat_statements: calls, total and mean time, share; the server
# must preload it: ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements' and
# a restart) and the machine's CPU split between processes (perf record -e cpu-clock,
# system-wide; Debian's linux-perf).
# Usage: bench/queue/run.sh [JOBS] [RATE]   (defaults: 10000 jobs, 1000 requests/s)
#        DATABASES="sqlite postgres" WORKERS="1 2 4" ROUNDS=3 PORT=18181 PROFILE=0
#        NOOP=0 skips the no-op throughput part (latency only)
set -euo pipefail
cd "$(dirname "$0")/../.."
SUBMITTERS=32
# hey sends n/c requests per worker, so keep JOBS a multiple of the submitters.
JOBS=$(( ${1:-10016} / SUBMITTERS * SUBMITTERS ))
RATE=${2:-1000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18181}
DATABASES=${DATABASES:-sqlite postgres}
WORKERS=${WORKERS:-1 2 4}
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
PG_SERVER=""
case " $DATABASES " in *" postgres "*) PG_SERVER=$(scripts/postgres) ;; esac
WORK=$(mktemp -d)
PIDS=()
DB_NAME=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$DB_NAME" ] && psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Every process of one deployment: auth.mode = none (allowed on loopback) and a plan
# whose rate limit the load cannot reach: this measures the queue and the HTTP path.
easel_env() {
  export EASEL__AUTH__MODE=none EASEL__PLANS__DEFAULT__RATE_PER_SEC=1000000 \
    EASEL__PLANS__DEFAULT__BURST=1000000 EASEL__LOG__LEVEL=warn \
    EASEL__STORAGE__DATA_DIR="$WORK/data"
  if [ "$1" = postgres ]; then
    export EASEL__STORAGE__DATABASE_URL="$PG_SERVER/$DB_NAME"
  else
    unset EASEL__STORAGE__DATABASE_URL
  fi
}

# start DATABASE WORKER_PROCESSES: a fresh deployment; 0 worker processes means the
# server's in-process workers.
start() {
  rm -rf "$WORK/data"
  if [ "$1" = postgres ]; then
    DB_NAME="easel_bench_$$_$RANDOM"
    psql "$PG_SERVER/postgres" -qc "CREATE DATABASE $DB_NAME" >/dev/null
    if [ "${PROFILE:-0}" = 1 ]; then
      psql "$PG_SERVER/$DB_NAME" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    fi
  fi
  easel_env "$1"
  local serve=(serve --bind "127.0.0.1:$PORT")
  [ "$2" -gt 0 ] && serve+=(--no-workers)
  "$EASEL" "${serve[@]}" >"$WORK/server.log" 2>&1 &
  PIDS=($!)
  for _ in $(seq 200); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "$BASE/readyz" >/dev/null || { echo "easel did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
  for _ in $(seq "$2"); do
    "$EASEL" worker >>"$WORK/worker.log" 2>&1 &
    PIDS+=($!)
  done
}
stop() {
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  if [ -n "$DB_NAME" ]; then
    psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
    DB_NAME=""
  fi
}
completed() { curl -s "$BASE/metrics" | awk '/^easel_jobs\{status="COMPLETED"\}/ {print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# hey prints "  99% in 0.0012 secs"; prints the value in milliseconds.
percentile() { awk -v p="$1%" '$1 == p && $2 == "in" {printf "%.3f\n", $3 * 1000}'; }
errors() { awk '/^Status code distribution:/ {s=1; next} s && /\[/ {gsub(/[\[\]]/, ""); if ($1 !~ /^2/) e += $2} /^Error distribution:/ {s=0; x=1; next} x && /\[/ {gsub(/[\[\]]/, ""); e += $1} END {print e + 0}'; }

# noop DATABASE WORKER_PROCESSES: median jobs/s over ROUNDS fresh deployments.
noop() {
  local rates=()
  for round in $(seq "$ROUNDS"); do
    start "$1" "$2"
    profiling "$1" && profile_begin
    t0=$(date +%s.%N)
    hey -n "$JOBS" -c "$SUBMITTERS" -m POST -T application/json -d '{"kind":"noop"}' "$BASE/v1/jobs" >"$WORK/hey-jobs.txt"
    until [ "$(completed)" = "$JOBS" ]; do sleep 0.02; done
    t1=$(date +%s.%N)
    profiling "$1" && profile_end
    rate=$(echo "$JOBS / ($t1 - $t0)" | bc -l)
    printf '  %s, %s worker process(es), round %d: %.0f jobs/s (submit errors: %s)\n' \
      "$1" "$2" "$round" "$rate" "$(errors <"$WORK/hey-jobs.txt")"
    rates+=("$rate")
    stop
  done
  printf '%s no-op jobs/s with %s worker process(es), median: %.0f\n' "$1" "$2" \
    "$(printf '%s\n' "${rates[@]}" | median)"
}

profiling() { [ "${PROFILE:-0}" = 1 ] && [ "$1" = postgres ]; }
profile_begin() {
  psql "$PG_SERVER/$DB_NAME" -qc "SELECT pg_stat_statements_reset()" >/dev/null
  perf record -e cpu-clock -a -q -o "$WORK/perf.data" -- sleep 3600 >/dev/null 2>&1 &
  PERF_PID=$!
}
profile_end() {
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  echo "    where the machine's CPU went (perf, cpu-clock samples by process):"
  perf report -i "$WORK/perf.data" --sort comm --stdio 2>/dev/null \
    | awk '/^ +[0-9.]+%/ {printf "      %s\n", $0}' | head -8
  echo "    the database's time by statement (pg_stat_statements):"
  psql "$PG_SERVER/$DB_NAME" -qAt -F ' | ' -c "
    SELECT lpad(calls::text, 7), lpad(round(total_exec_time)::text, 6) || ' ms',
           lpad(round(mean_exec_time::numeric, 3)::text, 7) || ' ms',
           lpad(round(100 * total_exec_time / sum(total_exec_time) OVER ())::text, 3) || ' %',
           left(regexp_replace(query, '\s+', ' ', 'g'), 90)
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY total_exec_time DESC LIMIT 8" | sed 's/^/      /'
}

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

for database in $DATABASES; do
  if [ "${NOOP:-1}" = 1 ]; then
    echo "== $database: no-op jobs end to end, $JOBS jobs, $SUBMITTERS concurrent submitters, $ROUNDS rounds"
    if [ "$database" = postgres ]; then
      for workers in $WORKERS; do noop postgres "$workers"; done
    else
      noop sqlite 0
    fi
  fi
  echo "== $database: API latency at $RATE requests/s"
  start "$database" 0
  latency "$database presign" -m POST -T application/json -d '{"filename":"a.jpg","contentType":"image/jpeg"}' "$BASE/v1/uploads"
  JOB_ID=$(curl -s -X POST "$BASE/v1/jobs" -H 'content-type: application/json' -d '{"kind":"noop"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')
  latency "$database job-status" "$BASE/v1/jobs/$JOB_ID"
  stop
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d)"
