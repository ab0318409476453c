#!/usr/bin/env bash
# make demo: walk one user through onboarding on a running `make dev` stack. Publishes
# user.signedup in structured mode and email.verified in binary mode with the nats CLI,
# exactly as a publisher in any language would.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
[[ -x $BIN/nats && -x $BIN/temporal ]] || die "run 'make dev' first (it builds bin/nats and bin/temporal)"
port_open "$TEMPORAL_ADDRESS" || die "no Temporal at $TEMPORAL_ADDRESS: start the stack with 'make dev'"

user=demo-$(date +%s)
wf=onboarding-$user
temporal() { "$BIN/temporal" --address "$TEMPORAL_ADDRESS" "$@"; }

say "publishing user.signedup for $user (structured mode)"
"$BIN/nats" -s "$NATS_URL" pub -J events.user.signedup \
	-H "Content-Type:application/cloudevents+json" -H "Nats-Msg-Id:signup-$user" \
	"{\"specversion\":\"1.0\",\"id\":\"signup-$user\",\"type\":\"user.signedup\",\"source\":\"/demo\",\"datacontenttype\":\"application/json\",\"data\":{\"user_id\":\"$user\",\"email\":\"$user@example.com\",\"name\":\"Demo User\"}}"

say "waiting for workflow $wf"
for _ in $(seq 50); do temporal workflow describe --workflow-id "$wf" >/dev/null 2>&1 && break; sleep 0.2; done
temporal workflow describe --workflow-id "$wf" | sed -n 1,20p # sed reads it all: no SIGPIPE under pipefail
say "its status query (what the Temporal UI shows as current details)"
temporal workflow query --workflow-id "$wf" --type status

say "publishing email.verified for $user (binary mode)"
"$BIN/nats" -s "$NATS_URL" pub -J events.email.verified \
	-H "ce-specversion:1.0" -H "ce-id:verified-$user" -H "ce-type:email.verified" -H "ce-source:/demo" \
	-H "Content-Type:application/json" -H "Nats-Msg-Id:verified-$user" \
	"{\"user_id\":\"$user\"}"

say "workflow result"
temporal workflow result --workflow-id "$wf"
say "emails to $user@example.com (mailpit): http://$MAILPIT_ADDR/api/v1/search?query=to:$user@example.com"
curl -fsS "http://$MAILPIT_ADDR/api/v1/search?query=to:$user@example.com" | cut -c 1-400
say "result events on the stream: bin/nats -s $NATS_URL stream view EVENTS"
