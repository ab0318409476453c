# Shared by scripts/dev.sh and scripts/test.sh: pinned tools, port checks, and starting
# services in the background so that exit stops exactly what was started, nothing else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
STATE=${FLOWBRIDGE_STATE:-$ROOT/.dev}
mkdir -p "$BIN" "$STATE/logs"

# Pinned tool versions. Each is installed on its own (GOBIN=bin go install mod@version),
# so every tool keeps the dependency graph its authors tested.
TEMPORAL_CLI=github.com/temporalio/cli/cmd/temporal@v1.5.1
NATS_SERVER=github.com/nats-io/nats-server/v2@v2.15.3
NATS_CLI=github.com/nats-io/natscli/nats@v0.3.0
MAILPIT=github.com/axllent/mailpit@v1.27.11
STRIPE_MOCK=github.com/stripe/stripe-mock@v0.203.0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# ensure_tool NAME MODULE@VERSION: builds bin/NAME once, saying so (the first Temporal
# CLI build takes about 5 minutes; later builds reuse the Go build cache).
ensure_tool() {
	local name=$1 mod=$2 stamp="$BIN/.$1.version"
	# A stamp of "$mod+ui" (mailpit with its web UI, see ensure_mailpit_ui) also counts.
	if [[ -x $BIN/$name && -f $stamp && $(cat "$stamp") == "$mod"* ]]; then return; fi
	local note=""
	[[ $name == temporal ]] && note="; the first build takes about 5 minutes"
	say "building $name from $mod (once$note)"
	local start=$SECONDS
	( GOBIN=$BIN GOFLAGS=-mod=mod go install "$mod" ) >"$STATE/logs/build-$name.log" 2>&1 &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 15
		kill -0 "$pid" 2>/dev/null && say "  still building $name ($((SECONDS - start))s)"
	done
	wait "$pid" || { cat "$STATE/logs/build-$name.log" >&2; die "could not build $name"; }
	echo "$mod" >"$stamp"
}

ensure_tools() {
	ensure_tool temporal "$TEMPORAL_CLI"
	ensure_tool nats-server "$NATS_SERVER"
	ensure_tool nats "$NATS_CLI"
	ensure_mailpit_ui
	ensure_tool stripe-mock "$STRIPE_MOCK"
}

# ensure_mailpit_ui builds mailpit with its web inbox. The Go module ships the UI's
# sources but not the built UI, so this builds it with npm (about 15 s) and then the
# binary; without npm it falls back to mailpit without the UI (its REST API still works).
ensure_mailpit_ui() {
	local stamp="$BIN/.mailpit.version"
	if [[ -x $BIN/mailpit && -f $stamp && $(cat "$stamp") == "$MAILPIT+ui" ]]; then return; fi
	if ! command -v npm >/dev/null; then
		say "no npm: building mailpit without its web UI (read mail through its API)"
		ensure_tool mailpit "$MAILPIT"
		return
	fi
	say "building mailpit with its web UI (once; npm and go, about a minute)"
	local dir src="$STATE/build/mailpit"
	dir=$(GOFLAGS=-mod=mod go mod download -json "$MAILPIT" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir ]] || die "could not download $MAILPIT"
	rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
	if ! ( cd "$src" && npm ci --no-audit --no-fund && npm run package && GOFLAGS=-mod=mod go build -o "$BIN/mailpit" . ) >"$STATE/logs/build-mailpit.log" 2>&1; then
		tail -20 "$STATE/logs/build-mailpit.log" >&2
		say "mailpit's web UI did not build (log above); using mailpit without it"
		ensure_tool mailpit "$MAILPIT"
		return
	fi
	echo "$MAILPIT+ui" >"$stamp"
}

# ensure_promtool: promtool, for the alert rules' tests (promtool check rules / test
# rules), from Debian's `prometheus` package. One on PATH is used as it is; otherwise the
# package is downloaded and only its promtool is unpacked into bin/ — installing the
# package would also start a Prometheus server on :9090, the bridge's admin port. Exports
# PROMTOOL, which the tests read.
ensure_promtool() {
	if command -v promtool >/dev/null; then
		PROMTOOL=$(command -v promtool)
	elif [[ ! -x $BIN/promtool ]]; then
		command -v apt-get >/dev/null || die "promtool is missing and this is not Debian: install Prometheus's promtool and put it on PATH"
		say "unpacking promtool from Debian's prometheus package into bin/ (once)"
		local dir="$STATE/build/prometheus-deb"
		rm -rf "$dir" && mkdir -p "$dir"
		if ! (cd "$dir" && apt-get download prometheus) >"$STATE/logs/promtool.log" 2>&1; then
			# No package list yet (a fresh machine): fetch it, then try again.
			apt-get update >>"$STATE/logs/promtool.log" 2>&1 &&
				(cd "$dir" && apt-get download prometheus) >>"$STATE/logs/promtool.log" 2>&1 ||
				{ cat "$STATE/logs/promtool.log" >&2; die "could not download Debian's prometheus package (for promtool)"; }
		fi
		dpkg-deb -x "$dir"/prometheus_*.deb "$dir/root" && cp "$dir/root/usr/bin/promtool" "$BIN/promtool" ||
			die "could not unpack promtool from $(ls "$dir"/prometheus_*.deb)"
		rm -rf "$dir"
		PROMTOOL=$BIN/promtool
	else
		PROMTOOL=$BIN/promtool
	fi
	export PROMTOOL
}

# port_open HOST:PORT
port_open() {
	local host=${1%:*} port=${1##*:}
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# hostport URL: host:port of nats://h:p or postgres://u@h:p/db (first of a comma list).
hostport() {
	local u=${1%%,*}
	u=${u#*://}; u=${u#*@}; u=${u%%/*}; u=${u%%\?*}
	[[ $u == *:* ]] || u="$u:$2"
	echo "$u"
}

STARTED=()
stop_started() {
	local i
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		local name=${STARTED[i]%%:*} pid=${STARTED[i]#*:}
		if kill -0 "$pid" 2>/dev/null; then
			say "stopping $name"
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	STARTED=()
}
trap stop_started EXIT
trap 'exit 130' INT TERM

# start_bg NAME CMD...: runs CMD in the background with its output in .dev/logs/NAME.log.
start_bg() {
	local name=$1; shift
	"$@" >"$STATE/logs/$name.log" 2>&1 &
	STARTED+=("$name:$!")
}

# wait_port NAME HOST:PORT SECONDS
wait_port() {
	local name=$1 addr=$2 deadline=$((SECONDS + $3))
	until port_open "$addr"; do
		if ((SECONDS > deadline)); then
			tail -20 "$STATE/logs/$name.log" >&2 || true
			die "$name did not listen on $addr within $3s (log: $STATE/logs/$name.log)"
		fi
		sleep 0.3
	done
}

# use_or_start NAME HOST:PORT CMD...: uses what already listens on HOST:PORT, else starts CMD.
use_or_start() {
	local name=$1 addr=$2; shift 2
	if port_open "$addr"; then
		say "$name: using the one already at $addr"
		return
	fi
	say "$name: starting on $addr (log: $STATE/logs/$name.log)"
	start_bg "$name" "$@"
	wait_port "$name" "$addr" 60
}

# start_temporal ADDR UI_PORT|"" [extra args]: the Temporal dev server (real server, in one
# process) unless one answers at ADDR, with the search attributes the bridge sets on every
# start registered, as `bridge setup` would (a server found running is left as it is).
start_temporal() {
	local addr=$1 ui=$2; shift 2
	local host=${addr%:*} port=${addr##*:}
	local args=(server start-dev --ip "$host" --port "$port" --log-level warn
		--search-attribute FlowbridgeEventId=Keyword --search-attribute FlowbridgeEventType=Keyword
		--search-attribute FlowbridgeCorrelationId=Keyword)
	if [[ -n $ui ]]; then args+=(--ui-port "$ui"); else args+=(--headless); fi
	use_or_start temporal "$addr" "$BIN/temporal" "${args[@]}" "$@"
}

require_postgres() {
	local addr
	addr=$(hostport "$DATABASE_URL" 5432)
	port_open "$addr" || die "PostgreSQL is not reachable at $addr (DATABASE_URL=$DATABASE_URL).
Start it (Debian: apt-get install postgresql && pg_ctlcluster 15 main start), or set DATABASE_URL
to a server that answers. The database itself is created and migrated by \`worker migrate\`."
}

: "${NATS_URL:=nats://127.0.0.1:4222}"
: "${TEMPORAL_ADDRESS:=127.0.0.1:7233}"
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/flowbridge?sslmode=disable}"
: "${SMTP_ADDR:=127.0.0.1:1025}"
: "${MAILPIT_ADDR:=127.0.0.1:8025}"
: "${STRIPE_MOCK_ADDR:=127.0.0.1:12111}"
# stripe-mock also serves HTTPS, by default on every interface at 12112: keep it beside
# the HTTP port, on loopback.
: "${STRIPE_MOCK_HTTPS_ADDR:=${STRIPE_MOCK_ADDR%:*}:$((${STRIPE_MOCK_ADDR##*:} + 1))}"
export NATS_URL TEMPORAL_ADDRESS DATABASE_URL SMTP_ADDR MAILPIT_ADDR STRIPE_MOCK_ADDR STRIPE_MOCK_HTTPS_ADDR
