# Targets a newcomer needs; each is one line of what it runs.
.PHONY: run test test-integration bench lint kafka-up kafka-down

run:              ## run the service on its embedded store in ./data
	go run .

test:             ## every test, with the race detector (the README's test command)
	go test -race ./...

test-integration: ## the end-to-end suite alone: builds the binary and drives it over HTTP
	go test -race -count=1 -v ./infra/e2e/

bench:            ## HTTP benchmarks with wrk (installs it) and the event-log benchmark
	deploy/bench/bench.sh
	go test -run '^$$' -bench . -benchtime 20000x ./infra/eventlog/

lint:             ## gofmt, go vet, staticcheck (pinned)
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

kafka-up:         ## start a real Apache Kafka 4 broker on loopback (for the Kafka issue)
	deploy/kafka/kafka.sh up

kafka-down:
	deploy/kafka/kafka.sh down
