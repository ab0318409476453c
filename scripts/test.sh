#!/usr/bin/env bash
# make test: every test, against real servers (make bench: the Go benchmarks on the same
# servers, then cmd/flowbench on a Temporal dev server of its own).
# PostgreSQL must answer at DATABASE_URL; each test uses a schema of its own. The Temporal
# dev server (in memory), mailpit and stripe-mock are the tests' own, on ports of their own
# (TEST_* below), so a running `make dev` stack is never touched; each is reused if it
# already answers. NATS servers are started in-process by the tests.

# The tests read the contract's variables; these point them at the test servers.
export TEMPORAL_ADDRESS=${TEST_TEMPORAL_ADDRESS:-127.0.0.1:7243}
export SMTP_ADDR=${TEST_SMTP_ADDR:-127.0.0.1:11025}
export MAILPIT_ADDR=${TEST_MAILPIT_ADDR:-127.0.0.1:18025}
export STRIPE_MOCK_ADDR=${TEST_STRIPE_MOCK_ADDR:-127.0.0.1:12211}
export STRIPE_API_BASE=http://$STRIPE_MOCK_ADDR
export FLOWBRIDGE_STATE=${FLOWBRIDGE_STATE:-$(cd "$(dirname "$0")/.." && pwd)/.dev/test}
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Only what the tests use: NATS servers are in-process, so no nats-server or nats CLI.
ensure_tool temporal "$TEMPORAL_CLI"
ensure_tool mailpit "$MAILPIT"
ensure_tool stripe-mock "$STRIPE_MOCK"
ensure_promtool # the alert rules' tests (internal/app)
require_postgres
# In memory: tests need no persistence, and SQLite's fsync would make them slower.
start_temporal "$TEMPORAL_ADDRESS" ""
use_or_start mailpit "$SMTP_ADDR" "$BIN/mailpit" --smtp "$SMTP_ADDR" --listen "$MAILPIT_ADDR"
use_or_start stripe-mock "$STRIPE_MOCK_ADDR" "$BIN/stripe-mock" -http-addr "$STRIPE_MOCK_ADDR" -https-addr "$STRIPE_MOCK_HTTPS_ADDR"

if [[ ${1:-} == bench ]]; then
	# Benchmarks, not tests: no -race (it distorts timings). BENCHTIME=3s for steadier numbers.
	say "go test -bench . ./... (benchtime ${BENCHTIME:-1s})"
	go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" ./...
	# Then flowbench (cmd/flowbench): the built bridge against direct starts on a fresh
	# Temporal dev server of its own (127.0.0.1:7253), so stop what the Go benchmarks
	# used first. BENCH_FLAGS passes flags, e.g. BENCH_FLAGS=-quick, -backlog 50000 or
	# -alive-only.
	# Its ten-thousand-alive measure runs the built worker too, against a mailpit and a
	# stripe-mock of its own (and a fresh dev server again).
	stop_started
	say "building bin/bridge and bin/worker for flowbench"
	go build -o "$BIN/bridge" ./cmd/bridge
	go build -o "$BIN/worker" ./cmd/worker
	say "flowbench ${BENCH_FLAGS:-} (about 20 minutes on 2 cores, 2 with -quick; progress below, the tables at the end)"
	go run ./cmd/flowbench -temporal-bin "$BIN/temporal" -bridge-bin "$BIN/bridge" -worker-bin "$BIN/worker" \
		-mailpit-bin "$BIN/mailpit" -stripe-mock-bin "$BIN/stripe-mock" ${BENCH_FLAGS:-}
	exit
fi
say "go test -race ./... ${GOTEST_FLAGS:-}"
go test -race -count=1 -timeout 30m ${GOTEST_FLAGS:-} ./...
