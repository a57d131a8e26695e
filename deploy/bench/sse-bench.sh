#!/usr/bin/env bash
# Benchmarks the SSE fan-out of the built binary on loopback with deploy/bench/sseload:
# 1,000 streams on 1,000 distinct recipients, then 1,000 streams on one recipient, each with
# SENDS POSTs at RATE/s (baseline run without streams first). Bounded by sseload's -timeout.
# Usage: deploy/bench/sse-bench.sh            (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-1000}
SENDS=${SENDS:-2000}
RATE=${RATE:-200}
PORT=${BENCH_PORT:-18182}
URL="http://127.0.0.1:$PORT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/notify" .
go build -o "$work/sseload" ./deploy/bench/sseload
pid=
serve() { # a fresh server per scenario, so its RSS growth is the streams'
  if [ -n "$pid" ]; then kill "$pid"; wait "$pid" || true; fi
  rm -rf "$work/data"
  "$work/notify" --data-dir "$work/data" --http-addr "127.0.0.1:$PORT" --log-level warn --rate-limit 0 \
    --sse-max-per-recipient "$CLIENTS" --sse-max-clients "$((CLIENTS + 10))" ${BENCH_FLAGS:-} 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do curl -fsS "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1
}

serve
echo "== $CLIENTS streams on $CLIENTS recipients (each send reaches one stream)"
"$work/sseload" -service "$URL" -pid "$pid" -clients "$CLIENTS" -recipients "$CLIENTS" -sends "$SENDS" -rate "$RATE" -tag distinct
serve
echo "== $CLIENTS streams on one recipient (each send reaches every stream)"
"$work/sseload" -service "$URL" -pid "$pid" -clients "$CLIENTS" -recipients 1 -sends "$((SENDS / 10))" -rate "$((RATE / 10))" -tag one
