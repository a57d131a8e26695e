#!/usr/bin/env bash
# Benchmarks the Kafka path: commands produced to the commands topic until visible in the
# inbox, as fast as possible and at a fixed 2,000 commands/s (latency). Uses the broker in
# KAFKA_BROKERS, else starts one with deploy/kafka/kafka.sh. Loopback only, bounded.
# Usage: deploy/bench/kafka-bench.sh        (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-50000}
PARTITIONS=${PARTITIONS:-64}
RATE=${RATE:-2000}
LATENCY_N=${LATENCY_N:-20000}
PORT=${BENCH_PORT:-18181}
if [ -z "${KAFKA_BROKERS:-}" ]; then
  eval "$(deploy/kafka/kafka.sh up | sed 's/^/export /')"
fi

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
p="bench$(date +%s)."
deploy/kafka/kafka.sh topics "${p}commands:$PARTITIONS" "${p}send:1" "${p}events:$PARTITIONS" "${p}poison:1" >/dev/null
go build -o "$work/notify" .
go build -o "$work/kafkaload" ./deploy/bench/kafkaload
"$work/notify" --data-dir "$work/data" --http-addr "127.0.0.1:$PORT" --log-level warn \
  --kafka-brokers "$KAFKA_BROKERS" --kafka-group "${p}group" --kafka-topic-send "${p}send" \
  --kafka-topic-commands "${p}commands" --kafka-topic-events "${p}events" --kafka-topic-poison "${p}poison" --rate-limit 0 ${BENCH_FLAGS:-} &
pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 3 # consumer group join

load() { "$work/kafkaload" -brokers "$KAFKA_BROKERS" -service "http://127.0.0.1:$PORT" \
  -commands-topic "${p}commands" -events-topic "${p}events" -partitions "$PARTITIONS" "$@"; }
echo "== throughput: $N commands, $PARTITIONS partitions"
load -n "$N"
echo "== latency: $LATENCY_N commands at $RATE/s"
load -n "$LATENCY_N" -rate "$RATE"
