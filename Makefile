# Targets a newcomer needs; each is one line of what it runs.
.PHONY: help run test test-browser fuzz test-integration test-esdb bench bench-kafka bench-sse lint kafka-up kafka-down

help:             ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

run:              ## run the service on its embedded store in ./data
	go run .

test:             ## every test, with the race detector (the README's test command)
	go test -race ./...

test-browser:     ## the <notify-inbox> suite in headless Chromium (installs Debian's chromium if missing)
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	NOTIFY_BROWSER_TESTS=required go test -race -count=1 -v ./infra/tests/browser/

fuzz:             ## the HTTP body, Kafka command (and its fast path) and event decoders and the view encoder, 20s each (FUZZTIME=1m to change)
	go test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./infra/transport/httpapi/
	go test -run '^$$' -fuzz '^FuzzCommand$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./infra/transport/kafkabridge/
	go test -run '^$$' -fuzz '^FuzzDecodeFlatMatchesEncodingJSON$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./infra/transport/kafkabridge/
	go test -run '^$$' -fuzz '^FuzzDecodeFastMatchesEncodingJSON$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./domain/notification/
	go test -run '^$$' -fuzz '^FuzzAppendJSONMatchesEncodingJSON$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./domain/notification/
	go test -run '^$$' -fuzz '^FuzzAppendJSONMatchesEncodingJSON$$' -fuzztime $${FUZZTIME:-20s} -fuzzminimizetime 2s ./projections/inbox/

test-integration: ## Kafka, PostgreSQL and end-to-end suites on a real Kafka 4 broker and PostgreSQL (started and stopped here)
	eval "$$(deploy/kafka/kafka.sh up-secure | sed 's/^/export /')" && \
	  eval "$$(deploy/postgres/pg.sh up | sed 's/^/export /')" && \
	  go test -race -count=1 -v ./infra/transport/kafkasub/ ./infra/transport/kafkabridge/ ./infra/readmodel/pginbox/ ./infra/tests/e2e/; \
	  status=$$?; deploy/kafka/kafka.sh down; deploy/postgres/pg.sh down; exit $$status

test-esdb:        ## event-store contract against a real EventStoreDB: make test-esdb ESDB_URL='esdb://127.0.0.1:2113?tls=false'
	@test -n "$(ESDB_URL)" || { echo "set ESDB_URL, e.g. make test-esdb ESDB_URL='esdb://127.0.0.1:2113?tls=false'"; exit 1; }
	ESDB_URL='$(ESDB_URL)' go test -race -count=1 -v -run TestContract_RealServer ./infra/store/esdb/

bench:            ## HTTP benchmarks with wrk (installs it) and the event-log benchmark
	deploy/bench/bench.sh
	go test -run '^$$' -bench . -benchtime 20000x ./infra/store/eventlog/

bench-kafka:      ## Kafka commands → inbox throughput and latency (starts a broker if KAFKA_BROKERS is unset)
	deploy/bench/kafka-bench.sh

bench-sse:        ## SSE fan-out: 1,000 live streams over 1,000 recipients and over one (deploy/bench/sse-bench.sh)
	deploy/bench/sse-bench.sh

lint:             ## gofmt, go vet, staticcheck (pinned)
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

kafka-up:         ## start a real Apache Kafka 4 broker on 127.0.0.1:19092
	deploy/kafka/kafka.sh up

kafka-down:       ## stop it
	deploy/kafka/kafka.sh down
