package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// While NATS is away a publish on the processes' connection fails at once, and nothing is
// flushed to the stream when NATS comes back: the ingress never answers 503 for an event
// that is stored after all, and an activity retries rather than trust a buffered publish.
func TestPublishWhileNATSIsAwayFailsAndIsNeverFlushedLater(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	nc, err := ConnectNATS(config.Common{NATS: config.NATS{URL: n.URL}}, "test", testenv.Logger(t))
	require.NoError(t, err)
	defer nc.Close()
	js := nc.JS
	testenv.Eventually(t, 5*time.Second, nc.IsConnected, "not connected")

	n.Shutdown()
	testenv.Eventually(t, 5*time.Second, func() bool { return !nc.IsConnected() }, "still connected")
	ev := cloudevents.New()
	ev.SetID(testenv.ID("evt-"))
	ev.SetType("user.signedup")
	ev.SetSource("/test")
	require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, map[string]string{"user_id": "u", "email": "u@example.com"}))
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = events.NewPublisher(js).Publish(pctx, ev)
	require.Error(t, err, "a publish while NATS is away fails")

	n.Restart()
	testenv.Eventually(t, 10*time.Second, nc.IsConnected, "did not reconnect")
	require.NoError(t, nc.Flush())
	s, err := n.JS.Stream(ctx, events.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "the failed publish was not stored after the reconnect")
}

// A connection the server closes for good is reported: Watch returns an error naming the
// connection and the server's reason, and liveness fails, on the public port (a fixed
// word) and on the operations address (the reason).
func TestNATSConnectionClosedByTheServerIsReported(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, err := ConnectNATS(config.Common{NATS: config.NATS{URL: n.URL}}, "flowbridge-test-ingress", testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	live := map[string]ops.Check{"nats_ingress": nc.Alive}
	public := httptest.NewServer(ingress.New(ingress.Config{Live: live}, testenv.Logger(t)).Handler())
	t.Cleanup(public.Close)
	admin := httptest.NewServer(ops.New(ops.Config{Live: live}, testenv.Logger(t)).Handler())
	t.Cleanup(admin.Close)

	r := doRequest(t, http.MethodGet, public.URL+"/healthz")
	status, body := r.status, r.body
	require.Equal(t, http.StatusOK, status, "before: public /healthz got %d %s, want 200", status, body)

	testenv.ForceCloseNATS(t, nc.Conn)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = nc.Watch(ctx)
	require.Error(t, err, "Watch returns an error once the server closed the connection")
	for _, want := range []string{"flowbridge-test-ingress", "maximum control line exceeded"} {
		require.ErrorContains(t, err, want)
	}
	require.Error(t, nc.Alive(ctx))

	r = doRequest(t, http.MethodGet, public.URL+"/healthz")
	status, body = r.status, r.body
	require.Equal(t, http.StatusServiceUnavailable, status, "public /healthz: got %d, want 503", status)
	require.JSONEq(t, `{"status":"failing","checks":{"nats_ingress":"failed"}}`, body)
	r = doRequest(t, http.MethodGet, admin.URL+"/healthz")
	status, body = r.status, r.body
	require.Equal(t, http.StatusServiceUnavailable, status, "admin /healthz: got %d, want 503", status)
	require.Contains(t, body, "maximum control line exceeded")
}

// Our own Close at shutdown is not a failure.
func TestNATSConnectionClosedByUsIsNotAFailure(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, err := ConnectNATS(config.Common{NATS: config.NATS{URL: n.URL}}, "flowbridge-test", testenv.Logger(t))
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, nc.IsConnected, "not connected to NATS")
	nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, nc.Watch(ctx), "Watch after our own Close")
	require.NoError(t, ctx.Err(), "Watch returned because the connection closed, not at its deadline")
	require.NoError(t, nc.Alive(ctx))
}

// TEMPORAL_GRPC_COMPRESSION picks the SDK's compression: none unless gzip is asked for
// (the SDK itself would gzip every request).
func TestTemporalConnectionCompression(t *testing.T) {
	tests := []struct {
		name string
		mode string
		want any
	}{
		{name: "none", mode: "none", want: &client.GrpcCompressionNone{}},
		{name: "gzip", mode: "gzip", want: &client.GrpcCompressionGzip{}},
		{name: "the default", mode: config.DefaultTemporalGRPCCompression, want: &client.GrpcCompressionNone{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := temporalCompression(tt.mode)
			require.Equal(t, tt.want, got, "got %T, want %T", got, tt.want)
		})
	}
}
