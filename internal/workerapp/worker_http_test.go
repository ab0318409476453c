package workerapp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

type workerReadyBody struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// workerGet GETs path from srv and returns the status and body.
func workerGet(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func workerReadyz(t *testing.T, srv *httptest.Server) (int, workerReadyBody) {
	t.Helper()
	status, body := workerGet(t, srv, "/readyz")
	var rb workerReadyBody
	require.NoError(t, json.Unmarshal([]byte(body), &rb), "body %q", body)
	return status, rb
}

func TestWorkerServerReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		checks     map[string]ops.Check
		wantStatus int
		wantChecks map[string]string
	}{
		{
			name:       "all pass",
			checks:     map[string]ops.Check{"postgresql": ok, "nats": ok, "temporal": ok, "worker": ok},
			wantStatus: http.StatusOK,
			wantChecks: map[string]string{"postgresql": "ok", "nats": "ok", "temporal": "ok", "worker": "ok"},
		},
		{
			name: "one fails",
			checks: map[string]ops.Check{"postgresql": func(context.Context) error {
				return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
			}, "nats": ok, "temporal": ok, "worker": ok},
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: map[string]string{"postgresql": "dial tcp 127.0.0.1:5432: connect: connection refused", "nats": "ok", "temporal": "ok", "worker": "ok"},
		},
		{
			name: "one hangs past the check timeout",
			checks: map[string]ops.Check{"temporal": func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}, "worker": ok},
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: map[string]string{"temporal": context.DeadlineExceeded.Error(), "worker": "ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(workerServer("127.0.0.1:0", testenv.Logger(t), prometheus.NewRegistry(), nil, tt.checks).Handler())
			t.Cleanup(srv.Close)
			status, body := workerReadyz(t, srv)
			require.Equal(t, tt.wantStatus, status, "status: got %d, want %d", status, tt.wantStatus)
			require.Equal(t, tt.wantStatus == http.StatusOK, body.Ready, "ready: got %v", body.Ready)
			require.Equal(t, tt.wantChecks, body.Checks, "checks: got %v, want %v", body.Checks, tt.wantChecks)
			status, _ = workerGet(t, srv, "/healthz")
			require.Equal(t, http.StatusOK, status, "/healthz: got %d, want 200 whatever the checks say", status)
		})
	}
}

// TestWorkerHTTPLifecycle follows the worker's readiness from start-up (nothing connected
// yet) through running to draining, with the checks RunWorker sets.
func TestWorkerHTTPLifecycle(t *testing.T) {
	web, err := newWorkerHTTP("127.0.0.1:0", testenv.Logger(t), nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(web.Server.Handler())
	t.Cleanup(srv.Close)

	status, body := workerReadyz(t, srv)
	require.Equal(t, http.StatusServiceUnavailable, status, "before connecting: got %d, want 503", status)
	for name, want := range map[string]string{
		"postgresql": "not connected yet to PostgreSQL at DATABASE_URL (retrying)",
		"nats":       "not connected yet to NATS at NATS_URL (retrying)",
		"temporal":   "not connected yet to Temporal at TEMPORAL_ADDRESS (retrying)",
		"worker":     "worker not started yet",
	} {
		require.Equal(t, want, body.Checks[name], "%s: got %q, want %q", name, body.Checks[name], want)
	}

	// Real dependencies where they are cheap: an in-process NATS server.
	nats := testenv.StartNATS(t)
	nc, err := app.ConnectNATS(config.Common{NATS: config.NATS{URL: nats.URL}}, "flowbridge-worker-test", testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	web.Ready.NATS.Set(nc.Ready)
	web.Ready.PostgreSQL.Set(func(context.Context) error { return nil })
	web.Ready.Temporal.Set(func(context.Context) error { return nil })
	status, body = workerReadyz(t, srv)
	require.Equal(t, http.StatusServiceUnavailable, status, "connected, worker not started: got %d, want 503", status)
	require.Equal(t, "worker not started yet", body.Checks["worker"])

	web.Ready.Started()
	status, body = workerReadyz(t, srv)
	require.Equal(t, http.StatusOK, status, "running: got %d (%v), want 200", status, body.Checks)

	var last struct {
		Status int
		Body   workerReadyBody
	}
	nats.Shutdown()
	testenv.Eventually(t, 10*time.Second, func() bool {
		last.Status, last.Body = workerReadyz(t, srv)
		return last.Status == http.StatusServiceUnavailable && strings.HasPrefix(last.Body.Checks["nats"], "NATS ")
	}, "NATS down: got %+v, want 503 naming nats", &last)
	nats.Restart()
	testenv.Eventually(t, 10*time.Second, func() bool {
		last.Status, last.Body = workerReadyz(t, srv)
		return last.Status == http.StatusOK
	}, "NATS back: got %+v, want 200", &last)

	web.Ready.Stopping()
	status, body = workerReadyz(t, srv)
	require.Equal(t, http.StatusServiceUnavailable, status, "stopping: got %d, want 503", status)
	require.Equal(t, "worker stopping: finishing running activities", body.Checks["worker"])

	web.Ready.Failed(errors.New("namespace flowbridge not found"))
	web.Ready.Started() // a failure stays
	_, body = workerReadyz(t, srv)
	require.Equal(t, "worker stopped: namespace flowbridge not found", body.Checks["worker"])
}

func TestWorkerHTTPMetrics(t *testing.T) {
	web, err := newWorkerHTTP("127.0.0.1:0", testenv.Logger(t), nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(web.Server.Handler())
	t.Cleanup(srv.Close)
	web.Temporal.Handler().WithTags(map[string]string{"namespace": "default"}).Counter("temporal_workflow_completed").Inc(1)
	require.NoError(t, web.Temporal.Close()) // reports the counter now

	status, body := workerGet(t, srv, "/metrics")
	require.Equal(t, http.StatusOK, status, "/metrics: got %d, want 200", status)
	for _, want := range []string{
		"go_goroutines ",
		"process_cpu_seconds_total ",
		`flowbridge_build_info{commit="`,
		`temporal_workflow_completed_total{namespace="default"} 1`,
	} {
		require.Contains(t, body, want, "/metrics: got\n%s\nwant a line with %q", body, want)
	}
	// The worker has one address, WORKER_HTTP_ADDR, for operators only: pprof is there,
	// without the command line (it can hold secrets).
	status, body = workerGet(t, srv, "/debug/pprof/")
	require.Equal(t, http.StatusOK, status, "/debug/pprof/: got %d, want 200", status)
	require.Contains(t, body, "goroutine")
	status, _ = workerGet(t, srv, "/debug/pprof/cmdline")
	require.Equal(t, http.StatusNotFound, status, "/debug/pprof/cmdline: got %d, want 404", status)
}
