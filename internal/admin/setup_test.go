package admin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/setup"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// setupEnv is the environment of `bridge setup` against n, the Temporal dev server and
// namespace ns, with extra settings.
type setupEnv map[string]string

func newSetupEnv(n *testenv.NATS, ns string, extra map[string]string) setupEnv {
	env := setupEnv{
		"NATS_URL":           n.URL,
		"TEMPORAL_ADDRESS":   testenv.TemporalAddress(),
		"TEMPORAL_NAMESPACE": ns,
		"LOG_LEVEL":          "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// bridgeSetup runs `bridge setup args...` with env and returns what it printed.
func bridgeSetup(t *testing.T, env setupEnv, args ...string) (string, error) {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, IO{Stdout: &o, Stderr: &e, Getenv: func(k string) string { return env[k] }}, append([]string{"setup"}, args...))
	t.Logf("bridge setup %s\n%s%s(err: %v)", strings.Join(args, " "), o.String(), e.String(), err)
	return o.String(), err
}

// namespace registers a Temporal namespace of the test's own, so that the search
// attributes it registers are its own, and deletes it when the test ends.
func namespace(t *testing.T, tc client.Client) string {
	t.Helper()
	ns := testenv.ID("setup-")
	_, err := tc.WorkflowService().RegisterNamespace(testCtx(t), &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = tc.OperatorService().DeleteNamespace(context.Background(), &operatorservice.DeleteNamespaceRequest{Namespace: ns})
	})
	return ns
}

// routesWithAttribute is a routes file whose one route sets the search attribute attr.
func routesWithAttribute(t *testing.T, attr string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`routes:
  - name: tiered-signup
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}'
    search_attributes: {`+attr+`: '{{ .data.user_id }}'}
`), 0o600))
	return path
}

// jetStreamState is the configuration of every stream and consumer on a server.
type jetStreamState struct {
	Streams   map[string]jetstream.StreamConfig
	Consumers map[string]jetstream.ConsumerConfig
}

func stateOf(t *testing.T, js jetstream.JetStream) jetStreamState {
	t.Helper()
	ctx := testCtx(t)
	st := jetStreamState{Streams: map[string]jetstream.StreamConfig{}, Consumers: map[string]jetstream.ConsumerConfig{}}
	list := js.ListStreams(ctx)
	for info := range list.Info() {
		st.Streams[info.Config.Name] = info.Config
		s, err := js.Stream(ctx, info.Config.Name)
		require.NoError(t, err)
		consumers := s.ListConsumers(ctx)
		for ci := range consumers.Info() {
			st.Consumers[info.Config.Name+" > "+ci.Name] = ci.Config
		}
		require.NoError(t, consumers.Err())
	}
	require.NoError(t, list.Err())
	return st
}

func searchAttributes(t *testing.T, tc client.Client, ns string) map[string]enumspb.IndexedValueType {
	t.Helper()
	resp, err := tc.OperatorService().ListSearchAttributes(testCtx(t), &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	require.NoError(t, err)
	return resp.GetCustomAttributes()
}

// lines are out's lines that are not the closing summary.
func lines(out string) []string {
	all := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return all[:len(all)-1]
}

// `bridge setup` twice: the first run creates the streams, the consumers and the search
// attributes (flowbridge's and the routes file's); the second finds them as configured,
// says so, and changes nothing.
func TestSetupTwiceChangesNothing(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	ns := namespace(t, tc)
	env := newSetupEnv(n, ns, map[string]string{"ROUTES_FILE": routesWithAttribute(t, "SetupTier")})

	out, err := bridgeSetup(t, env)
	require.NoError(t, err)
	for _, want := range []string{
		"stream EVENTS: create with subjects [events.>], retention limits, storage file, num_replicas 1, placement none, duplicate_window 10m, max_age 168h\n",
		"stream EVENTS_DLQ: create with subjects [dlq.>], retention limits, storage file, num_replicas 1, placement none, duplicate_window 10m, max_age unlimited, max_bytes unlimited, discard new\n",
		"stream EVENTS_WAITING: create with subjects [waiting.>], retention limits, storage file, num_replicas 1, placement none, duplicate_window 10m, max_age unlimited, allow_direct true\n",
		"stream EVENTS_DEBOUNCE: create with subjects [debounce.>], retention workqueue, storage file, num_replicas 1, placement none, duplicate_window 10m, max_msgs_per_subject 1, discard old\n",
		"stream EVENTS_BATCH: create with subjects [batch.>], retention limits, storage file, num_replicas 1, placement none, duplicate_window 10m, max_age unlimited, allow_direct true\n",
		"consumer EVENTS > bridge: create with filter_subject events.>, deliver_policy all, ack_policy explicit, replay_policy instant, ack_wait 30s, max_deliver -1, max_ack_pending 20000, num_replicas 0 (the stream's)\n",
		"consumer EVENTS_WAITING > bridge-waiting: create with filter_subject waiting.>, deliver_policy all, ack_policy explicit, replay_policy instant, ack_wait 30s, max_deliver -1, max_ack_pending 100000, num_replicas 0 (the stream's)\n",
		"consumer EVENTS_DEBOUNCE > bridge-debounce: create with filter_subject debounce.>, deliver_policy all, ack_policy explicit, replay_policy instant, ack_wait 30s, max_deliver -1, max_ack_pending 100000, num_replicas 0 (the stream's)\n",
		"consumer EVENTS_BATCH > bridge-batch: create with filter_subject batch.>, deliver_policy all, ack_policy explicit, replay_policy instant, ack_wait 30s, max_deliver -1, max_ack_pending 100000, num_replicas 0 (the stream's)\n",
		"search attribute FlowbridgeEventId in namespace " + ns + ": create with type Keyword\n",
		"search attribute FlowbridgeEventType in namespace " + ns + ": create with type Keyword\n",
		"search attribute FlowbridgeCorrelationId in namespace " + ns + ": create with type Keyword\n",
		"search attribute SetupTier in namespace " + ns + " (set by route tiered-signup): create with type Keyword\n",
		"Made 13 changes.\n",
	} {
		require.Contains(t, out, want)
	}
	first := stateOf(t, n.JS)
	require.Len(t, first.Streams, 5, "streams: got %v", first.Streams)
	require.Len(t, first.Consumers, 4, "consumers: got %v", first.Consumers)
	for _, name := range []string{"FlowbridgeEventId", "FlowbridgeEventType", "FlowbridgeCorrelationId", "SetupTier"} {
		got := searchAttributes(t, tc, ns)[name]
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, got, "search attribute %s: got %v, want Keyword", name, got)
	}

	out, err = bridgeSetup(t, env)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(out, "Nothing to change: everything is as configured.\n"), "second run: got %q", out)
	got := lines(out)
	require.Len(t, got, 13, "second run: one line per object, got %q", got)
	for _, l := range got {
		require.True(t, strings.HasSuffix(l, ": as configured"), "second run: got %q, want only objects as configured", l)
	}
	require.Equal(t, first, stateOf(t, n.JS), "the second run changed the streams or consumers")
}

// `bridge setup --dry-run` on a fresh server prints every create and creates nothing.
func TestSetupDryRunCreatesNothing(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	ns := namespace(t, tc)

	out, err := bridgeSetup(t, newSetupEnv(n, ns, nil), "--dry-run")
	require.NoError(t, err)
	got := lines(out)
	require.Len(t, got, 12, "got %q", got)
	for i, object := range []string{"stream EVENTS", "stream EVENTS_DLQ", "stream EVENTS_WAITING", "stream EVENTS_DEBOUNCE", "stream EVENTS_BATCH",
		"consumer EVENTS > bridge", "consumer EVENTS_WAITING > bridge-waiting", "consumer EVENTS_DEBOUNCE > bridge-debounce", "consumer EVENTS_BATCH > bridge-batch",
		"search attribute FlowbridgeEventId in namespace " + ns, "search attribute FlowbridgeEventType in namespace " + ns, "search attribute FlowbridgeCorrelationId in namespace " + ns} {
		require.True(t, strings.HasPrefix(got[i], object+": create with "), "line %d: got %q, want the create of %s", i+1, got[i], object)
	}
	require.True(t, strings.HasSuffix(out, "Dry run: 12 changes to make, none made.\n"), "got %q", out)

	require.Equal(t, jetStreamState{Streams: map[string]jetstream.StreamConfig{}, Consumers: map[string]jetstream.ConsumerConfig{}}, stateOf(t, n.JS), "a dry run created streams or consumers")
	require.Empty(t, searchAttributes(t, tc, ns), "a dry run registered search attributes")
}

// Settings that changed are applied to the existing streams and consumers, field by
// field, and only those; --dry-run shows the same changes first and makes none.
func TestSetupUpdatesWhatTheSettingsChange(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	ns := namespace(t, tc)
	_, err := bridgeSetup(t, newSetupEnv(n, ns, nil))
	require.NoError(t, err)
	before := stateOf(t, n.JS)

	env := newSetupEnv(n, ns, map[string]string{
		"DLQ_MAX_AGE":             "720h",
		"DLQ_MAX_BYTES":           "1073741824",
		"EVENTS_DUPLICATE_WINDOW": "15m",
		"EVENTS_PLACEMENT_TAGS":   "ssd, az1",
		"BRIDGE_ACK_WAIT":         "45s",
	})
	want := []string{
		"stream EVENTS: placement none -> tags:az1,ssd",
		"stream EVENTS: duplicate_window 10m -> 15m",
		"stream EVENTS_DLQ: placement none -> tags:az1,ssd",
		"stream EVENTS_DLQ: duplicate_window 10m -> 15m",
		"stream EVENTS_DLQ: max_age unlimited -> 720h",
		"stream EVENTS_DLQ: max_bytes unlimited -> 1073741824",
		"stream EVENTS_WAITING: placement none -> tags:az1,ssd",
		"stream EVENTS_WAITING: duplicate_window 10m -> 15m",
		"stream EVENTS_DEBOUNCE: placement none -> tags:az1,ssd",
		"stream EVENTS_DEBOUNCE: duplicate_window 10m -> 15m",
		"stream EVENTS_BATCH: placement none -> tags:az1,ssd",
		"stream EVENTS_BATCH: duplicate_window 10m -> 15m",
		"consumer EVENTS > bridge: ack_wait 30s -> 45s",
		"consumer EVENTS_WAITING > bridge-waiting: ack_wait 30s -> 45s",
		"consumer EVENTS_DEBOUNCE > bridge-debounce: ack_wait 30s -> 45s",
		"consumer EVENTS_BATCH > bridge-batch: ack_wait 30s -> 45s",
	}
	out, err := bridgeSetup(t, env, "-dry-run")
	require.NoError(t, err)
	require.Equal(t, want, lines(out)[:len(want)], "the dry run's diff")
	require.True(t, strings.HasSuffix(out, "Dry run: 9 changes to make, none made.\n"), "got %q", out)
	require.Equal(t, before, stateOf(t, n.JS), "a dry run changed something")

	out, err = bridgeSetup(t, env)
	require.NoError(t, err)
	require.Equal(t, want, lines(out)[:len(want)], "the run's diff")
	after := stateOf(t, n.JS)
	dlq := after.Streams[events.DLQStream]
	require.Equal(t, 720*time.Hour, dlq.MaxAge)
	require.Equal(t, int64(1<<30), dlq.MaxBytes)
	require.Equal(t, jetstream.DiscardNew, dlq.Discard, "a full DLQ refuses new dead letters")
	for name, s := range after.Streams {
		require.Equal(t, 15*time.Minute, s.Duplicates, "%s duplicate window", name)
		require.ElementsMatch(t, []string{"ssd", "az1"}, s.Placement.Tags, "%s placement tags", name)
		// What flowbridge does not own is left as it was.
		require.Equal(t, before.Streams[name].Description, s.Description, "%s description", name)
	}
	require.Equal(t, 7*24*time.Hour, after.Streams[events.Stream].MaxAge, "EVENTS max_age")
	require.Equal(t, 45*time.Second, after.Consumers["EVENTS > bridge"].AckWait)

	out, err = bridgeSetup(t, env)
	require.NoError(t, err)
	require.Contains(t, out, "Nothing to change")
}

// Changes NATS or Temporal cannot make are refused, each with what to do, and then
// nothing is changed, not even what could be: a stream's storage, a consumer's deliver
// policy, a search attribute's type. A stream of flowbridge's name that does not capture
// its subjects is someone else's.
func TestSetupRefusesWhatCannotChange(t *testing.T) {
	tc := testenv.Temporal(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, js jetstream.JetStream, ns string) // after a first setup
		env     map[string]string
		fresh   bool     // prepare runs on a fresh server, without a first setup
		want    []string // in the output and the error
	}{
		{
			name: "storage",
			env:  map[string]string{"EVENTS_STORAGE": "memory", "DLQ_MAX_AGE": "720h"},
			want: []string{
				"stream EVENTS: storage file -> memory: cannot be changed\n  NATS cannot change a stream's storage: set EVENTS_STORAGE=file to keep it, or delete the stream (its messages are lost) and run bridge setup again.",
				"stream EVENTS_DLQ: max_age unlimited -> 720h",
				"changes the servers cannot make: stream EVENTS (storage), stream EVENTS_DLQ (storage), stream EVENTS_WAITING (storage), stream EVENTS_DEBOUNCE (storage), stream EVENTS_BATCH (storage); nothing was changed",
			},
		},
		{
			name:  "consumer deliver policy",
			fresh: true,
			prepare: func(t *testing.T, js jetstream.JetStream, _ string) {
				_, err := js.CreateStream(testCtx(t), events.StreamConfigs(10 * time.Minute)[0])
				require.NoError(t, err)
				cfg := events.BridgeConsumerConfig(events.BridgeConsumer, 30*time.Second)
				cfg.DeliverPolicy = jetstream.DeliverNewPolicy
				_, err = js.CreateConsumer(testCtx(t), events.Stream, cfg)
				require.NoError(t, err)
			},
			want: []string{
				"consumer EVENTS > bridge: deliver_policy new -> all: cannot be changed\n  NATS cannot change a consumer's deliver_policy: delete the consumer (nats consumer rm EVENTS bridge) and run bridge setup again",
				"stream EVENTS_DLQ: create with",
				"changes the servers cannot make: consumer EVENTS > bridge (deliver_policy)",
			},
		},
		{
			name: "search attribute type",
			prepare: func(t *testing.T, _ jetstream.JetStream, ns string) {
				_, err := tc.OperatorService().AddSearchAttributes(testCtx(t), &operatorservice.AddSearchAttributesRequest{
					Namespace: ns, SearchAttributes: map[string]enumspb.IndexedValueType{"SetupTier": enumspb.INDEXED_VALUE_TYPE_INT},
				})
				require.NoError(t, err)
			},
			env: map[string]string{"ROUTES_FILE": "SetupTier"},
			want: []string{
				"(set by route tiered-signup): type Int -> Keyword: cannot be changed\n  route tiered-signup sets it to a string, which needs Keyword or Text; Temporal cannot change a search attribute's type",
				"changes the servers cannot make: search attribute SetupTier in namespace",
			},
		},
		{
			name:  "someone else's stream",
			fresh: true,
			prepare: func(t *testing.T, js jetstream.JetStream, _ string) {
				_, err := js.CreateStream(testCtx(t), jetstream.StreamConfig{Name: events.Stream, Subjects: []string{"orders.>"}})
				require.NoError(t, err)
			},
			want: []string{"stream EVENTS exists with subjects [orders.>], want it to include events.>: it is not flowbridge's stream"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			ns := namespace(t, tc)
			if tt.env["ROUTES_FILE"] != "" {
				tt.env["ROUTES_FILE"] = routesWithAttribute(t, tt.env["ROUTES_FILE"])
			}
			if !tt.fresh {
				_, err := bridgeSetup(t, newSetupEnv(n, ns, nil))
				require.NoError(t, err)
			}
			if tt.prepare != nil {
				tt.prepare(t, n.JS, ns)
			}
			before, attrs := stateOf(t, n.JS), searchAttributes(t, tc, ns)

			for _, args := range [][]string{{"--dry-run"}, nil} {
				out, err := bridgeSetup(t, newSetupEnv(n, ns, tt.env), args...)
				require.Error(t, err)
				require.Equal(t, config.ExitFailure, config.ExitCode(err))
				for _, w := range tt.want {
					require.Contains(t, out+err.Error(), w)
				}
				if strings.Contains(err.Error(), "cannot make") {
					require.ErrorIs(t, err, setup.ErrRefused)
				}
				require.Equal(t, before, stateOf(t, n.JS), "a refused setup changed streams or consumers")
				require.Equal(t, attrs, searchAttributes(t, tc, ns), "a refused setup changed search attributes")
			}
		})
	}
}

// A command line `bridge setup` does not take is a usage error; -h is not an error.
func TestSetupCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error; "": none
		code int
	}{
		{name: "an argument", args: []string{"now"}, want: `bridge setup takes flags only, got the argument "now"`, code: config.ExitUsage},
		{name: "an unknown flag", args: []string{"--force"}, want: "unknown flag: --force", code: config.ExitUsage},
		{name: "a bad setting", args: []string{"-events-storage=tape"}, want: `EVENTS_STORAGE "tape" is not file or memory`, code: config.ExitFailure},
		{name: "help", args: []string{"-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bridgeSetup(t, setupEnv{"NATS_URL": "nats://127.0.0.1:1"}, tt.args...)
			require.Equal(t, tt.code, config.ExitCode(err), "exit code of %v: got %d, want %d", err, config.ExitCode(err), tt.code)
			if tt.want != "" {
				require.ErrorContains(t, err, tt.want)
			}
		})
	}
}

// `bridge routes check` looks at the Temporal the bridge's settings name, when it answers:
// a route's search attribute that is not registered is an error (its starts would be
// refused), flowbridge's own missing a warning (the bridge starts without them); after
// `bridge setup` both are gone. Without a Temporal it checks the file alone.
func TestRoutesCheckSearchAttributes(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	ns := namespace(t, tc)
	file := routesWithAttribute(t, "CheckTier")
	env := newSetupEnv(n, ns, nil)

	out, errOut, err := runRoutesCmd(t, env, "check", file)
	require.ErrorContains(t, err, "search attributes missing in Temporal")
	require.Contains(t, errOut, "search attribute CheckTier (set by route tiered-signup) is not registered in namespace "+ns+": Temporal refuses those starts and their events are dead-lettered; run bridge setup")
	for _, name := range []string{"FlowbridgeEventId", "FlowbridgeEventType", "FlowbridgeCorrelationId"} {
		require.Contains(t, out, "warning: search attribute "+name+" is not registered in namespace "+ns+": the bridge starts workflows without")
	}

	_, err = bridgeSetup(t, newSetupEnv(n, ns, map[string]string{"ROUTES_FILE": file}))
	require.NoError(t, err)
	out, errOut, err = runRoutesCmd(t, env, "check", file)
	require.NoError(t, err, errOut)
	require.Equal(t, file+": ok (event types user.signedup)\n", out)

	env["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
	out, _, err = runRoutesCmd(t, env, "check", file)
	require.NoError(t, err)
	require.Contains(t, out, "Search attributes not checked: Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS) is not reachable")
	require.Contains(t, out, file+": ok")
}
