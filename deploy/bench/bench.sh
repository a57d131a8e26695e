#!/usr/bin/env bash
# Benchmarks the HTTP API of the built binary on loopback with wrk (installed from Debian if
# missing): POST /notifications, GET a 100-item inbox, GET a count; plus idle RSS.
# Every run is bounded: DURATION per scenario (default 15s), CONNECTIONS (default 32).
# Usage: deploy/bench/bench.sh            (from the repo root; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${BENCH_PORT:-18181}
URL="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/notify" .
"$work/notify" --data-dir "$work/data" --http-addr "127.0.0.1:$PORT" --log-level warn --rate-limit 0 ${BENCH_FLAGS:-} &
pid=$!
for _ in $(seq 100); do curl -fsS "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

# A 100-item inbox to list.
for i in $(seq 100); do
  curl -fsS -o /dev/null -X POST "$URL/notifications" -H 'Content-Type: application/json' \
    -d "{\"recipientId\":\"bench-list\",\"content\":\"Inbox item number $i\",\"category\":\"bench\"}"
done
sleep 0.5
[ "$(curl -fsS "$URL/notifications/count/from/bench-list")" = '{"count":100}' ] || { echo "seeding the inbox failed" >&2; exit 1; }

run() { # name, wrk args...
  local name=$1 out="$work/wrk.txt"; shift
  echo "== $name" >&2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" > "$out"
  cat "$out" >&2
  if grep -q 'Non-2xx' "$out"; then echo "$name: non-2xx answers" >&2; exit 1; fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  printf '| %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" >> "$work/table"
}

run "POST /notifications" -s deploy/bench/post.lua "$URL/notifications"
# Let the projection finish the POST backlog so the reads measure reads, not catch-up.
for _ in $(seq 600); do
  curl -fsS "$URL/readyz" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["projections"]["inbox"] >= r["logHead"] else 1)' && break
  sleep 0.1
done
run "GET /notifications/from (100 items)" "$URL/notifications/from/bench-list"
run "GET /notifications/count/from" "$URL/notifications/count/from/bench-list"
load_rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores, $(go version | awk '{print $3}'), $(date -u +%F)"
echo
echo "| scenario | req/s | p50 | p99 |"
echo "|---|---|---|---|"
cat "$work/table"
echo
echo "RSS idle after start: $((idle_rss / 1024)) MB; after the runs: $((load_rss / 1024)) MB"
