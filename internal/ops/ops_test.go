package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// serve runs srv on a port of its own until the test ends, and returns its base URL.
func serve(t *testing.T, srv *ops.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "a shutdown is not an error")
	})
	return "http://" + ln.Addr().String()
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

func do(t *testing.T, method, url string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

// requireJSONError fails unless a is a JSON refusal {"error": ...} with status want.
func requireJSONError(t *testing.T, a answer, want int) string {
	t.Helper()
	require.Equal(t, want, a.Status, "status: got %d, want %d; body %s", a.Status, want, a.Body)
	require.Equal(t, "application/json", a.Header.Get("Content-Type"), "Content-Type: got %q; body %s", a.Header.Get("Content-Type"), a.Body)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.Body), &body), "body is not JSON: %s", a.Body)
	msg, _ := body["error"].(string)
	require.NotEmpty(t, msg, "body has no error: %s", a.Body)
	return msg
}

func TestMuxAnswersUnknownRoutesInJSON(t *testing.T) {
	mux := ops.NewMux()
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux.HandleFunc("GET /things/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, _ *http.Request) {
		ops.WriteError(w, http.StatusNotFound, "no such thing") // a route's own 404 is its own
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + ln.Addr().String()

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantAllow  string
		wantError  string
	}{
		{name: "unknown path", method: http.MethodGet, path: "/nothing/here", wantStatus: http.StatusNotFound, wantError: "no route for GET /nothing/here"},
		{name: "root", method: http.MethodGet, path: "/", wantStatus: http.StatusNotFound, wantError: "no route for GET /"},
		{name: "wrong method", method: http.MethodGet, path: "/events", wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST", wantError: "method GET is not allowed on /events: use POST"},
		{name: "DELETE", method: http.MethodDelete, path: "/things/x", wantStatus: http.StatusMethodNotAllowed, wantAllow: "GET, HEAD", wantError: "use GET, HEAD"},
		{name: "a route's own 404", method: http.MethodGet, path: "/missing", wantStatus: http.StatusNotFound, wantError: "no such thing"},
		{name: "long path is cut short", method: http.MethodGet, path: "/" + strings.Repeat("a", 5000), wantStatus: http.StatusNotFound, wantError: "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, base+tt.path)
			msg := requireJSONError(t, a, tt.wantStatus)
			require.Contains(t, msg, tt.wantError, "error: got %q, want it to contain %q", msg, tt.wantError)
			require.Less(t, len(msg), 400, "error echoes at most a bounded part of the request")
			require.Equal(t, tt.wantAllow, a.Header.Get("Allow"), "Allow: got %q, want %q", a.Header.Get("Allow"), tt.wantAllow)
		})
	}

	t.Run("routes and redirects are ServeMux's", func(t *testing.T) {
		a := do(t, http.MethodPost, base+"/events")
		require.Equal(t, http.StatusAccepted, a.Status)
		a = do(t, http.MethodGet, base+"/things")
		require.True(t, a.Status >= 300 && a.Status < 400, "got %d, want ServeMux's redirect to /things/", a.Status)
		require.Equal(t, "/things/", a.Header.Get("Location"))
	})
}

func TestServerRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "ops_test_total", Help: "a counter"}))
	srv := ops.New(ops.Config{Gatherer: reg}, testenv.Logger(t))
	srv.Handle("GET /extra/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ops.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	}))
	base := serve(t, srv)

	tests := []struct {
		name     string
		path     string
		wantBody string
	}{
		{name: "metrics", path: "/metrics", wantBody: "ops_test_total 0"},
		{name: "pprof index", path: "/debug/pprof/", wantBody: "goroutine"},
		{name: "pprof profile by name", path: "/debug/pprof/goroutine?debug=1", wantBody: "goroutine profile:"},
		{name: "healthz without checks", path: "/healthz", wantBody: `"status":"ok"`},
		{name: "route added with Handle", path: "/extra/e1", wantBody: `"id":"e1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodGet, base+tt.path)
			require.Equal(t, http.StatusOK, a.Status, "status: got %d, want 200; body %s", a.Status, a.Body)
			require.Contains(t, a.Body, tt.wantBody)
		})
	}
	requireJSONError(t, do(t, http.MethodGet, base+"/nothing"), http.StatusNotFound)
	requireJSONError(t, do(t, http.MethodPost, base+"/metrics"), http.StatusMethodNotAllowed)
	// The command line can hold secrets (-database-url, -stripe-api-key): not served.
	// (pprof's index answers it as an unknown profile.)
	cmdline := do(t, http.MethodGet, base+"/debug/pprof/cmdline")
	require.Equal(t, http.StatusNotFound, cmdline.Status, "cmdline: body %s", cmdline.Body)
	require.NotContains(t, cmdline.Body, "ops.test")
}

func TestServerWithoutGathererHasNoMetrics(t *testing.T) {
	base := serve(t, ops.New(ops.Config{}, testenv.Logger(t)))
	requireJSONError(t, do(t, http.MethodGet, base+"/metrics"), http.StatusNotFound)
}

// The operations address names each check's result, but a check's driver error — here the
// kind PostgreSQL gives, naming user, host and database — only through Redact's text.
func TestServerChecksShowDetailButNoConnectionStrings(t *testing.T) {
	const driverErr = "failed to connect to `user=alice database=secretdb`: db.internal:5432: FATAL: password authentication failed for user \"alice\""
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		live       map[string]ops.Check
		ready      map[string]ops.Check
		path       string
		wantStatus int
		wantChecks map[string]string
	}{
		{
			name:       "ready",
			ready:      map[string]ops.Check{"nats": ok, "postgresql": ok},
			path:       "/readyz",
			wantStatus: http.StatusOK,
			wantChecks: map[string]string{"nats": "ok", "postgresql": "ok"},
		},
		{
			name: "not ready, redacted",
			ready: map[string]ops.Check{"nats": ok, "postgresql": func(context.Context) error {
				return ops.Redact("PostgreSQL at DATABASE_URL unreachable: the server refused: SQLSTATE 28P01", errors.New(driverErr))
			}},
			path:       "/readyz",
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: map[string]string{"nats": "ok", "postgresql": "PostgreSQL at DATABASE_URL unreachable: the server refused: SQLSTATE 28P01"},
		},
		{
			name: "a check past the timeout",
			ready: map[string]ops.Check{"temporal": func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}},
			path:       "/readyz",
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: map[string]string{"temporal": context.DeadlineExceeded.Error()},
		},
		{
			name:       "alive",
			live:       map[string]ops.Check{"nats": ok},
			path:       "/healthz",
			wantStatus: http.StatusOK,
			wantChecks: map[string]string{"nats": "ok"},
		},
		{
			name:       "not alive",
			live:       map[string]ops.Check{"nats": func(context.Context) error { return errors.New("NATS connection x was closed for good") }},
			path:       "/healthz",
			wantStatus: http.StatusServiceUnavailable,
			wantChecks: map[string]string{"nats": "NATS connection x was closed for good"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := serve(t, ops.New(ops.Config{Live: tt.live, Ready: tt.ready, CheckTimeout: 200 * time.Millisecond}, testenv.Logger(t)))
			a := do(t, http.MethodGet, base+tt.path)
			require.Equal(t, tt.wantStatus, a.Status, "status: got %d, want %d; body %s", a.Status, tt.wantStatus, a.Body)
			require.Equal(t, "application/json", a.Header.Get("Content-Type"))
			var body struct {
				Checks map[string]string `json:"checks"`
			}
			require.NoError(t, json.Unmarshal([]byte(a.Body), &body), "body %s", a.Body)
			require.Equal(t, tt.wantChecks, body.Checks, "checks: got %v, want %v", body.Checks, tt.wantChecks)
			for _, secret := range []string{"alice", "secretdb", "db.internal"} {
				require.NotContains(t, a.Body, secret)
			}
		})
	}
}

func TestServerRunReportsTheSetting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = ops.New(ops.Config{Addr: ln.Addr().String(), Setting: "ADMIN_ADDR"}, testenv.Logger(t)).Run(t.Context())
	require.ErrorContains(t, err, "(ADMIN_ADDR)")
}

// Readiness failures are logged when they change, not on every probe: a dependency that
// stays down writes one line, a different failure another, and recovery one "Ready again".
func TestReadinessFailuresLoggedOnChange(t *testing.T) {
	var mu sync.Mutex
	var failure error
	check := func(context.Context) error { mu.Lock(); defer mu.Unlock(); return failure }
	set := func(err error) { mu.Lock(); failure = err; mu.Unlock() }
	var logs syncBuffer
	srv := ops.New(ops.Config{Addr: "127.0.0.1:0", Ready: map[string]ops.Check{"nats": check}}, zerolog.New(&logs))
	base := serve(t, srv)
	probe := func() { require.NotZero(t, do(t, http.MethodGet, base+"/readyz").Status) }

	probe() // ready: nothing to say
	set(errors.New("connection refused"))
	for range 5 {
		probe()
	}
	set(errors.New("no responders"))
	probe()
	probe()
	set(nil)
	probe()
	probe()

	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l struct {
			Message string            `json:"message"`
			Checks  map[string]string `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &l), line)
		if l.Message != "HTTP server listening" {
			msgs = append(msgs, l.Message+" "+l.Checks["nats"])
		}
	}
	require.Equal(t, []string{"Not ready connection refused", "Not ready no responders", "Ready again "}, msgs)
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
