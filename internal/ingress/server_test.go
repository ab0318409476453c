package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// servePublic runs srv on a port of its own until the test ends and returns its base URL.
func servePublic(t *testing.T, srv *ingress.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String()
}

type httpAnswer struct {
	Status int
	Header http.Header
	Body   string
}

func request(t *testing.T, method, url string, header http.Header, body []byte) httpAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return httpAnswer{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

func requireJSONRefusal(t *testing.T, a httpAnswer, want int) {
	t.Helper()
	require.Equal(t, want, a.Status, "status: got %d, want %d; body %s", a.Status, want, a.Body)
	require.Equal(t, "application/json", a.Header.Get("Content-Type"), "Content-Type: got %q; body %s", a.Header.Get("Content-Type"), a.Body)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.Body), &body), "body is not JSON: %s", a.Body)
	require.NotEmpty(t, body["error"], "body has no error: %s", a.Body)
}

func TestServerMaxHeaderBytes(t *testing.T) {
	base := servePublic(t, ingress.New(ingress.Config{MaxHeaderBytes: 1 << 10}, testenv.Logger(t)))
	tests := []struct {
		name       string
		header     string
		wantStatus int
	}{
		{name: "small headers", header: "x", wantStatus: http.StatusOK},
		{name: "just over the limit", header: strings.Repeat("x", 1<<10), wantStatus: http.StatusRequestHeaderFieldsTooLarge},
		{name: "16 KiB over the limit", header: strings.Repeat("x", 16<<10), wantStatus: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := request(t, http.MethodGet, base+"/healthz", http.Header{"X-Padding": {tt.header}}, nil)
			if tt.wantStatus == http.StatusOK {
				require.Equal(t, tt.wantStatus, a.Status, "status: got %d, want %d", a.Status, tt.wantStatus)
				return
			}
			requireJSONRefusal(t, a, tt.wantStatus)
			require.Contains(t, a.Body, "INGRESS_MAX_HEADER_BYTES")
		})
	}
}

// The public port serves the ingest routes and plain health only: the operators' routes
// (metrics, the event ledger, pprof) are not there, and every refusal of its own is JSON.
func TestPublicServerRefusesInJSON(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	srv := ingress.New(ingress.Config{}, testenv.Logger(t))
	in, err := ingress.NewIngest(events.NewPublisher(nil), sch, prometheus.NewRegistry(), testenv.Logger(t), ingress.IngestConfig{MaxBodyBytes: 1024, EventsOpen: true})
	require.NoError(t, err)
	in.Mount(srv)
	base := servePublic(t, srv)

	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		wantStatus int
		wantAllow  string
	}{
		{name: "metrics", method: http.MethodGet, path: "/metrics", wantStatus: http.StatusNotFound},
		{name: "event ledger", method: http.MethodGet, path: "/events/evt-1", wantStatus: http.StatusNotFound},
		{name: "pprof index", method: http.MethodGet, path: "/debug/pprof/", wantStatus: http.StatusNotFound},
		{name: "pprof heap", method: http.MethodGet, path: "/debug/pprof/heap", wantStatus: http.StatusNotFound},
		{name: "unknown path", method: http.MethodGet, path: "/wp-admin.php", wantStatus: http.StatusNotFound},
		{name: "GET /events", method: http.MethodGet, path: "/events", wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "PUT a webhook", method: http.MethodPut, path: "/webhooks/stripe", wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "POST /readyz", method: http.MethodPost, path: "/readyz", wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD"},
		{name: "DELETE /healthz", method: http.MethodDelete, path: "/healthz", wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD"},
		{name: "body over the limit", method: http.MethodPost, path: "/events", body: bytes.Repeat([]byte("x"), 4096), wantStatus: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := request(t, tt.method, base+tt.path, http.Header{"Content-Type": {"application/cloudevents+json"}}, tt.body)
			requireJSONRefusal(t, a, tt.wantStatus)
			require.Equal(t, tt.wantAllow, a.Header.Get("Allow"), "Allow: got %q, want %q", a.Header.Get("Allow"), tt.wantAllow)
		})
	}
}

// Public health answers in fixed words: a check's error, which may name a user, host or
// database, is for the admin address only.
func TestPublicHealthSaysNoDetail(t *testing.T) {
	const leak = "failed to connect to `user=alice database=secretdb`: postgres://alice:s3cret@db.internal:5432"
	ok := func(context.Context) error { return nil }
	bad := func(context.Context) error { return errors.New(leak) }
	tests := []struct {
		name       string
		live       map[string]ops.Check
		ready      map[string]ops.Check
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "ready", ready: map[string]ops.Check{"nats": ok}, path: "/readyz", wantStatus: http.StatusOK, wantBody: `{"checks":{"nats":"ok"},"ready":true}`},
		{name: "not ready", ready: map[string]ops.Check{"nats": bad}, path: "/readyz", wantStatus: http.StatusServiceUnavailable, wantBody: `{"checks":{"nats":"unavailable"},"ready":false}`},
		{name: "alive", live: map[string]ops.Check{"nats": ok}, path: "/healthz", wantStatus: http.StatusOK, wantBody: `{"status":"ok"}`},
		{name: "not alive", live: map[string]ops.Check{"nats": bad}, path: "/healthz", wantStatus: http.StatusServiceUnavailable, wantBody: `{"checks":{"nats":"failed"},"status":"failing"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := servePublic(t, ingress.New(ingress.Config{Live: tt.live, Ready: tt.ready}, testenv.Logger(t)))
			a := request(t, http.MethodGet, base+tt.path, nil, nil)
			require.Equal(t, tt.wantStatus, a.Status, "status: got %d, want %d", a.Status, tt.wantStatus)
			require.JSONEq(t, tt.wantBody, a.Body)
		})
	}
}
