# flowbridge. `make dev` runs the whole stack; `make test` runs every test.
.PHONY: dev test build tools lint bench fuzz demo fmt

dev: ## Temporal dev server, NATS, mailpit, stripe-mock, bridge and worker; Ctrl-C stops them
	@scripts/dev.sh

test: ## every test against real NATS, Temporal and PostgreSQL
	@scripts/test.sh

build: ## bin/bridge and bin/worker
	go build -o bin/bridge ./cmd/bridge
	go build -o bin/worker ./cmd/worker

tools: ## the pinned Temporal CLI, nats-server, nats CLI, mailpit and stripe-mock in bin/
	@bash -c 'source scripts/lib.sh; ensure_tools'

lint: ## gofmt, go vet and workflowcheck (determinism of internal/workflows)
	@test -z "$$(gofmt -l .)" || (gofmt -l . && false)
	go vet ./...
	go run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./internal/workflows/...

bench: ## Go benchmarks, then flowbench: bridge vs direct starts, CPU, RSS, p99, ingress on a fresh Temporal (BENCH_FLAGS=-quick)
	@scripts/test.sh bench

fuzz: ## every Go fuzz target for FUZZTIME each (default 30s); crashers land in testdata/fuzz
	@scripts/fuzz.sh

demo: ## publish a user.signedup and an email.verified to a running `make dev`
	@scripts/demo.sh

fmt:
	gofmt -w .
