#!/usr/bin/env bash
# make test: every test, against real servers (make bench: the benchmarks, same servers). PostgreSQL must answer at DATABASE_URL (each
# run uses its own schema). The Temporal dev server, mailpit and stripe-mock are started
# here unless they already answer; NATS servers are started in-process by the tests.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Only what the tests use: NATS servers are in-process, so no nats-server or nats CLI.
ensure_tool temporal "$TEMPORAL_CLI"
ensure_tool mailpit "$MAILPIT"
ensure_tool stripe-mock "$STRIPE_MOCK"
require_postgres
# In memory: tests need no persistence, and SQLite's fsync would make them slower.
start_temporal "$TEMPORAL_ADDRESS" ""
use_or_start mailpit "$SMTP_ADDR" "$BIN/mailpit" --smtp "$SMTP_ADDR" --listen "$MAILPIT_ADDR"
use_or_start stripe-mock "$STRIPE_MOCK_ADDR" "$BIN/stripe-mock" -http-addr "$STRIPE_MOCK_ADDR"
export STRIPE_API_BASE=${STRIPE_API_BASE:-http://$STRIPE_MOCK_ADDR}
export FLOWBRIDGE_BIN=$BIN

if [[ ${1:-} == bench ]]; then
	# Benchmarks, not tests: no -race (it distorts timings). BENCHTIME=3s for steadier numbers.
	say "go test -bench . ./... (benchtime ${BENCHTIME:-1s})"
	go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" ./...
	exit
fi
say "go test -race ./... ${GOTEST_FLAGS:-}"
go test -race -count=1 -timeout 30m ${GOTEST_FLAGS:-} ./...
