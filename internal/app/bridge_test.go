package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// testBridge is a bridge process on ports of its own, with NATS in process and Temporal
// and PostgreSQL at ports where nothing listens; secrets are what its answers must never
// show of its configuration.
type testBridge struct {
	*bridgeProcess
	nats          *testenv.NATS
	public, admin string // base URLs
	secrets       []string
}

func newTestBridge(t *testing.T) *testBridge {
	t.Helper()
	return newTestBridgeWith(t, nil)
}

// newTestBridgeWith is newTestBridge with more settings.
func newTestBridgeWith(t *testing.T, more map[string]string) *testBridge {
	t.Helper()
	n := testenv.StartNATS(t)
	temporalPort, pgPort := strconv.Itoa(testenv.ClosedPort(t)), strconv.Itoa(testenv.ClosedPort(t))
	env := map[string]string{
		"NATS_URL":         n.URL,
		"TEMPORAL_ADDRESS": "127.0.0.1:" + temporalPort,
		"DATABASE_URL":     "postgres://alice:s3cret@127.0.0.1:" + pgPort + "/secretdb?sslmode=disable",
	}
	for k, v := range more {
		env[k] = v
	}
	cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, err := newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
	require.NoError(t, err)
	return &testBridge{
		bridgeProcess: p,
		nats:          n,
		public:        "http://" + p.publicLn.Addr().String(),
		admin:         "http://" + p.adminLn.Addr().String(),
		secrets:       []string{"alice", "s3cret", "secretdb", temporalPort, pgPort},
	}
}

// start runs the bridge until the test ends. done is closed once run returned, with what
// it returned in *err.
func (b *testBridge) start(t *testing.T) (stop context.CancelFunc, done <-chan struct{}, err *error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var runErr error
	go func() {
		defer close(finished)
		runErr = b.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(60 * time.Second):
			t.Error("the bridge did not stop within 60s")
		}
	})
	return cancel, finished, &runErr
}

// get answers method path, decoding a JSON body into a map (nil when not JSON).
func get(t *testing.T, method, url string) (status int, header http.Header, body map[string]any, raw string) {
	t.Helper()
	a := doRequest(t, method, url)
	_ = json.Unmarshal([]byte(a.body), &body)
	return a.status, a.header, body, a.body
}

type reply struct {
	status int
	header http.Header
	body   string
}

func doRequest(t *testing.T, method, url string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	require.NoError(t, err)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	buf, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return reply{status: res.StatusCode, header: res.Header, body: string(buf)}
}

func requireJSON404or405(t *testing.T, method, url string, want int) {
	t.Helper()
	status, header, body, raw := get(t, method, url)
	require.Equal(t, want, status, "%s %s: got %d, want %d; body %s", method, url, status, want, raw)
	require.Equal(t, "application/json", header.Get("Content-Type"), "%s %s: Content-Type %q", method, url, header.Get("Content-Type"))
	require.NotEmpty(t, body["error"], "%s %s: body %s has no error", method, url, raw)
	if want == http.StatusMethodNotAllowed {
		require.NotEmpty(t, header.Get("Allow"), "%s %s: 405 without Allow", method, url)
	}
}

// The public port serves the webhooks, POST /events and plain health; the admin address
// serves what operators look at. Public readiness depends on NATS only: with Temporal and
// PostgreSQL unreachable the webhooks stay in the load balancer. Neither address shows a
// connection string, user, password, database or port of the configuration.
func TestBridgePublicAndAdminAddresses(t *testing.T) {
	b := newTestBridge(t)
	stop, done, runErr := b.start(t)

	var last reply
	testenv.Eventually(t, 15*time.Second, func() bool {
		last = doRequest(t, http.MethodGet, b.public+"/readyz")
		return last.status == http.StatusOK
	}, "public /readyz with NATS up, Temporal and PostgreSQL down: got %+v, want 200", &last)
	require.JSONEq(t, `{"ready":true,"checks":{"nats":"ok"}}`, last.body)

	status, _, _, raw := get(t, http.MethodGet, b.public+"/healthz")
	require.Equal(t, http.StatusOK, status, "public /healthz: %s", raw)
	status, _, _, raw = get(t, http.MethodGet, b.admin+"/healthz")
	require.Equal(t, http.StatusOK, status, "admin /healthz: %s", raw)

	status, _, body, raw := get(t, http.MethodGet, b.admin+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status, "admin /readyz: got %d %s, want 503", status, raw)
	checks, _ := body["checks"].(map[string]any)
	require.Equal(t, "ok", checks["nats_ingress"], "admin /readyz: %s", raw)
	require.Equal(t, "ok", checks["nats_consumer"], "admin /readyz: %s", raw)
	require.Equal(t, "PostgreSQL at DATABASE_URL unreachable: connection refused", checks["postgresql"], "admin /readyz: %s", raw)
	require.Contains(t, checks["temporal"], "Temporal at TEMPORAL_ADDRESS unreachable", "admin /readyz: %s", raw)

	// A request on the public port shows in the admin address's metrics.
	_ = doRequest(t, http.MethodPost, b.public+"/events")
	for path, want := range map[string]string{
		"/metrics":      "flowbridge_ingress_requests_total{",
		"/debug/pprof/": "goroutine",
	} {
		status, _, _, raw := get(t, http.MethodGet, b.admin+path)
		require.Equal(t, http.StatusOK, status, "admin %s: got %d", path, status)
		require.Contains(t, raw, want, "admin %s", path)
	}
	// The event ledger answers on the admin address (its database is down: 503, in JSON).
	status, header, body, raw := get(t, http.MethodGet, b.admin+"/events/evt-1")
	require.NotEqual(t, http.StatusNotFound, status, "admin /events/evt-1: %s", raw)
	require.Equal(t, "application/json", header.Get("Content-Type"))
	require.Contains(t, body["error"], "ledger", "admin /events/evt-1: %s", raw)

	for _, path := range []string{"/metrics", "/events/evt-1", "/debug/pprof/", "/debug/pprof/heap", "/nothing"} {
		requireJSON404or405(t, http.MethodGet, b.public+path, http.StatusNotFound)
	}
	requireJSON404or405(t, http.MethodGet, b.public+"/events", http.StatusMethodNotAllowed)
	requireJSON404or405(t, http.MethodPost, b.public+"/healthz", http.StatusMethodNotAllowed)
	requireJSON404or405(t, http.MethodGet, b.admin+"/nothing", http.StatusNotFound)
	requireJSON404or405(t, http.MethodGet, b.admin+"/webhooks/stripe", http.StatusNotFound)
	requireJSON404or405(t, http.MethodPost, b.admin+"/metrics", http.StatusMethodNotAllowed)

	for _, url := range []string{b.public + "/readyz", b.public + "/healthz", b.admin + "/readyz", b.admin + "/healthz"} {
		raw := doRequest(t, http.MethodGet, url).body
		for _, s := range b.secrets {
			require.NotContains(t, raw, s, "%s shows part of the configuration: %s", url, raw)
		}
	}

	stop()
	<-done
	require.NoError(t, *runErr, "our own shutdown is not a failure")
}

// When NATS closes one of the bridge's connections for good, the bridge's run ends with
// an error naming it, so the process exits non-zero and is restarted.
func TestBridgeExitsWhenNATSClosesAConnection(t *testing.T) {
	tests := []struct {
		name string
		conn func(*testBridge) *NATSConn
		want string
	}{
		{name: "ingress", conn: func(b *testBridge) *NATSConn { return b.ingressNATS }, want: "flowbridge-bridge-ingress"},
		{name: "consumer", conn: func(b *testBridge) *NATSConn { return b.consumerNATS }, want: "flowbridge-bridge-consumer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBridge(t)
			_, done, runErr := b.start(t)
			testenv.ForceCloseNATS(t, tt.conn(b).Conn)
			select {
			case <-done:
				err := *runErr
				require.Error(t, err, "the run ends with an error")
				require.ErrorContains(t, err, tt.want)
				require.ErrorContains(t, err, "maximum control line exceeded")
			case <-time.After(60 * time.Second):
				t.Fatal("the bridge still runs 60s after NATS closed its connection")
			}
		})
	}
}

// The ingress publishes on a connection of its own: when NATS closes it (one bad publish),
// the consumer still consumes — here, it dead-letters an event that cannot be decoded.
func TestIngressConnectionLossLeavesTheConsumerConsuming(t *testing.T) {
	b := newTestBridge(t)
	t.Cleanup(b.close)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, events.EnsureStreams(ctx, b.consumerNATS.JS, 2*time.Minute))
	done := make(chan error, 1)
	go func() { done <- b.bridge.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	testenv.ForceCloseNATS(t, b.ingressNATS.Conn)
	_, err := b.nats.JS.Publish(ctx, "events.test.garbage", []byte("not a CloudEvent"))
	require.NoError(t, err)
	dlq, err := b.nats.JS.Stream(ctx, events.DLQStream)
	require.NoError(t, err)
	var msgs uint64
	testenv.Eventually(t, 15*time.Second, func() bool {
		info, err := dlq.Info(ctx)
		require.NoError(t, err)
		msgs = info.State.Msgs
		return msgs == 1
	}, "dead letters: got %d, want 1 (the consumer stopped with the ingress connection?)", &msgs)
	require.True(t, b.consumerNATS.IsConnected(), "the consumer's connection: %v", b.consumerNATS.Status())
}
