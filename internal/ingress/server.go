// Package ingress is the bridge's public HTTP server: the routes that put events into the
// stream (Ingest: the Stripe and GitHub webhooks and CloudEvents over HTTP, mounted with
// Ingest.Mount) and plain liveness and readiness for load balancers (Server). What
// operators look at — metrics, readiness detail, the event ledger, pprof — is on the
// admin address (internal/ops), never here.
package ingress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/ops"
)

// Config configures the server. Zero durations take the defaults noted.
type Config struct {
	Addr string // listen address, host:port
	// ReadHeaderTimeout bounds a client's headers (slow-loris). Optional: defaults to 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Optional: defaults to 30s.
	ReadTimeout time.Duration
	// CheckTimeout bounds each check. Optional: defaults to 2s.
	CheckTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers. Optional: defaults to 64 KiB.
	MaxHeaderBytes int
	// Live are the liveness checks: GET /healthz answers 503 when one fails. Optional.
	Live map[string]ops.Check
	// Ready are the readiness checks: GET /readyz answers 503 when one fails. Check only
	// what taking events needs (the stream), so that an outage of anything else does not
	// take the webhooks out of a load balancer. Optional.
	Ready map[string]ops.Check
}

// Results the public health routes show for a check: fixed words, never a driver's
// error, which may name users, hosts or databases (the admin address has the detail).
const (
	resultOK          = "ok"
	resultUnavailable = "unavailable" // readiness
	resultFailed      = "failed"      // liveness
)

// Server is the public HTTP server. Every answer of its own is JSON, 404 and 405
// included.
type Server struct {
	cfg Config
	mux *ops.Mux
	log zerolog.Logger
}

// New returns the server, serving GET /healthz and GET /readyz; add the ingest routes with
// Ingest.Mount.
func New(cfg Config, log zerolog.Logger) *Server {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = ops.DefaultCheckTimeout
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	s := &Server{cfg: cfg, mux: ops.NewMux(), log: log}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// Handler returns the server's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle adds a route, with a pattern as http.ServeMux takes ("POST /events"). Call it
// before Run or Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Run listens on Addr and serves until ctx is cancelled, then shuts down gracefully,
// waiting up to 10s for requests in flight.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (HTTP_ADDR): %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return ops.Serve(ctx, &http.Server{
		Handler:           limitHeaders(s.cfg.MaxHeaderBytes, s.mux),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		// net/http answers headers over its own limit in plain text, before any handler
		// runs; it gets room above ours, so that limitHeaders answers them in JSON. Only
		// headers past the slack as well (over 64 KiB more) still get net/http's text.
		MaxHeaderBytes: s.cfg.MaxHeaderBytes + headerSlack,
	}, ln, s.log)
}

// headerSlack is how far over MaxHeaderBytes net/http itself still reads headers.
const headerSlack = 64 << 10

// limitHeaders answers 431, in JSON like every other refusal, for a request whose
// request line and headers are over max bytes (counted as on the wire).
func limitHeaders(max int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 16
		for k, vs := range r.Header {
			for _, v := range vs {
				size += len(k) + len(v) + 4 // "k: v\r\n"
			}
		}
		if size > max {
			ops.WriteError(w, http.StatusRequestHeaderFieldsTooLarge,
				fmt.Sprintf("request headers are about %d bytes, over the %d-byte limit (INGRESS_MAX_HEADER_BYTES): send fewer or shorter headers", size, max))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthz answers 200 while every liveness check passes, else 503.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	failed := ops.RunChecks(r.Context(), s.cfg.Live, s.cfg.CheckTimeout)
	if len(failed) == 0 {
		ops.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	ops.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failing", "checks": words(s.cfg.Live, failed, resultFailed)})
}

// readyz answers 200 when every readiness check passes, else 503.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	failed := ops.RunChecks(r.Context(), s.cfg.Ready, s.cfg.CheckTimeout)
	status := http.StatusOK
	if len(failed) > 0 {
		status = http.StatusServiceUnavailable
	}
	ops.WriteJSON(w, status, map[string]any{"ready": len(failed) == 0, "checks": words(s.cfg.Ready, failed, resultUnavailable)})
}

// words is each check's result as a fixed word.
func words(checks map[string]ops.Check, failed map[string]error, failure string) map[string]string {
	out := make(map[string]string, len(checks))
	for name := range checks {
		out[name] = resultOK
		if failed[name] != nil {
			out[name] = failure
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) { ops.WriteJSON(w, status, v) }
