#!/usr/bin/env bash
# Benchmarks the Kafka path against a real broker (KAFKA_BROKERS, else one started with
# deploy/kafka/kafka.sh), the built binary and deploy/bench/kafkaload on one machine:
#   1. drain: N commands produced at once to the one-partition seed topic (the original
#      service's payload, no key), until all are applied to the inbox;
#   2. drain: N typed commands to a 64-partition commands topic, keyed by recipient (RECIPIENTS
#      of them: commands with one key are handled one after the other);
#   3. latency: produce → seen on the recipient's live stream (SSE), at 500/s and 2,000/s, on
#      the one-partition seed topic.
# Each scenario also prints the CPU time the service and the broker spent on it.
# The events topic has EVENTS_PARTITIONS (8) partitions: each relay batch becomes one record
# batch per partition, and 64 of them cost the relay and the broker about 10 µs per event.
# Usage: deploy/bench/kafka-bench.sh   (from the repo root; N, PARTITIONS, RECIPIENTS,
#        EVENTS_PARTITIONS, RATES, LATENCY_SECONDS, BENCH_FLAGS)
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-100000}
PARTITIONS=${PARTITIONS:-64}
RECIPIENTS=${RECIPIENTS:-1000}
EVENTS_PARTITIONS=${EVENTS_PARTITIONS:-8} # the events topic the relay publishes to
RATES=${RATES:-500 2000}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}
PORT=${BENCH_PORT:-18181}
if [ -z "${KAFKA_BROKERS:-}" ]; then
  eval "$(deploy/kafka/kafka.sh up | sed 's/^/export /')"
fi
broker_pid=$(deploy/kafka/kafka.sh status 2>/dev/null | sed -n 's/.*pid[= ]\([0-9]*\).*/\1/p' | head -1 || true)

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
p="bench$(date +%s)."
deploy/kafka/kafka.sh topics "${p}send:1" "${p}commands:$PARTITIONS" "${p}events:$EVENTS_PARTITIONS" "${p}poison:1" >/dev/null
go build -o "$work/notify" .
go build -o "$work/kafkaload" ./deploy/bench/kafkaload
"$work/notify" --data-dir "$work/data" --http-addr "127.0.0.1:$PORT" --log-level warn \
  --kafka-brokers "$KAFKA_BROKERS" --kafka-group "${p}group" --kafka-topic-send "${p}send" \
  --kafka-topic-commands "${p}commands" --kafka-topic-events "${p}events" --kafka-topic-poison "${p}poison" \
  --rate-limit 0 --sse-max-per-recipient 10 ${BENCH_FLAGS:-} &
pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 3 # consumer group join

cpu() { # user+system CPU seconds of a process
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  awk '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"
}
scenario() { # title, then kafkaload flags
  local title=$1; shift
  echo "== $title"
  local s0 b0; s0=$(cpu "$pid"); b0=$(cpu "$broker_pid")
  "$work/kafkaload" -brokers "$KAFKA_BROKERS" -service "http://127.0.0.1:$PORT" "$@"
  awk -v s="$(cpu "$pid")" -v s0="$s0" -v b="$(cpu "$broker_pid")" -v b0="$b0" \
    'BEGIN { printf "   CPU: service %.2f s, broker %.2f s\n", s - s0, b - b0 }'
}
scenario "drain: $N seed commands, one partition" -topic "${p}send" -partitions 1 -seed -n "$N"
scenario "drain: $N typed commands, $PARTITIONS partitions, keyed by $RECIPIENTS recipients" \
  -topic "${p}commands" -partitions "$PARTITIONS" -n "$N" -recipients "$RECIPIENTS"
for rate in $RATES; do
  scenario "latency: $rate/s for ${LATENCY_SECONDS}s, seed topic, one partition" \
    -topic "${p}send" -partitions 1 -seed -rate "$rate" -n "$((rate * LATENCY_SECONDS))" -recipients 100
done
