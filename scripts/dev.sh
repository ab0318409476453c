#!/usr/bin/env bash
# make dev: the whole stack on this machine — Temporal dev server (UI on :8082), NATS with
# JetStream, mailpit, stripe-mock, then `worker migrate`, the bridge and the worker.
# Services already listening at their addresses are used as they are. Ctrl-C stops what
# this started.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_tools
require_postgres
mkdir -p "$STATE/nats" "$STATE/temporal"
start_temporal "$TEMPORAL_ADDRESS" "${TEMPORAL_UI_PORT:-8082}" --db-filename "$STATE/temporal/dev.db"
nats_addr=$(hostport "$NATS_URL" 4222)
use_or_start nats "$nats_addr" "$BIN/nats-server" -js -a "${nats_addr%:*}" -p "${nats_addr##*:}" -sd "$STATE/nats"
use_or_start mailpit "$SMTP_ADDR" "$BIN/mailpit" --smtp "$SMTP_ADDR" --listen "$MAILPIT_ADDR" --database "$STATE/mailpit.db"
use_or_start stripe-mock "$STRIPE_MOCK_ADDR" "$BIN/stripe-mock" -http-addr "$STRIPE_MOCK_ADDR" -https-addr "$STRIPE_MOCK_HTTPS_ADDR"

say "building bridge and worker"
go build -o "$BIN/bridge" ./cmd/bridge
go build -o "$BIN/worker" ./cmd/worker

export LOG_FORMAT=${LOG_FORMAT:-console}
# mailpit here takes mail in plain text; SMTP_TLS defaults to starttls for real servers.
export SMTP_TLS=${SMTP_TLS:-none}
export STRIPE_API_BASE=${STRIPE_API_BASE:-http://$STRIPE_MOCK_ADDR}
export STRIPE_API_KEY=${STRIPE_API_KEY:-sk_test_123}
# POST /events without a token (never the webhooks' types): this machine only. The bridge
# logs a warning saying so. Set INGRESS_EVENTS_TOKENS to try scoped tokens instead.
export INGRESS_EVENTS_OPEN=${INGRESS_EVENTS_OPEN:-true}
# Migrations are a step of their own: the bridge and the worker only check the schema.
say "migrating the database (worker migrate)"
"$BIN/worker" migrate
"$BIN/worker" & STARTED+=("worker:$!")
"$BIN/bridge" & STARTED+=("bridge:$!")

cat >&2 <<MSG

  flowbridge is running.
    Temporal UI   http://localhost:${TEMPORAL_UI_PORT:-8082}
    bridge        http://${HTTP_ADDR:-127.0.0.1:8080}  (webhooks, POST /events, /healthz /readyz)
    bridge admin  http://${ADMIN_ADDR:-127.0.0.1:9090}  (/metrics /readyz /events/{id} /debug/pprof/)
    worker        http://${WORKER_HTTP_ADDR:-127.0.0.1:8081}  (/healthz /readyz /metrics /debug/pprof/)
    mailpit       http://$MAILPIT_ADDR  (inbox; API /api/v1/messages)
    NATS          $NATS_URL
  POST /events is open without a token (INGRESS_EVENTS_OPEN=true). Deploys need
  DEPLOY_ALLOWED_REPOS (e.g. github.com/you/site); unset, every deploy is refused.
  Try it:  make demo     Stop: Ctrl-C

MSG
wait -n
say "a process exited; stopping the stack"
