// Package ingress is the bridge's HTTP server: liveness, readiness and metrics (Server),
// and the routes that put events into the stream (Ingest): the Stripe and GitHub
// webhooks and CloudEvents over HTTP, mounted on the server with Ingest.Mount.
package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Check reports whether one dependency is reachable.
type Check func(ctx context.Context) error

// Config configures the server. Zero durations take the defaults noted.
type Config struct {
	Addr string // listen address, host:port
	// ReadHeaderTimeout bounds a client's headers (slow-loris). Optional: defaults to 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Optional: defaults to 30s.
	ReadTimeout time.Duration
	// CheckTimeout bounds each readiness check. Optional: defaults to 2s.
	CheckTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers. Optional: defaults to 64 KiB.
	MaxHeaderBytes int
}

// Server serves the ingress routes.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	checks map[string]Check
	log    zerolog.Logger
}

// New returns a server whose /readyz runs checks (by name) and whose /metrics serves
// gatherer.
func New(cfg Config, log zerolog.Logger, gatherer prometheus.Gatherer, checks map[string]Check) *Server {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), checks: checks, log: log}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
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
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("HTTP server listening")
	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("HTTP shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readyz runs every check concurrently and answers 200 when all pass, else 503, with
// each check's result in the body.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CheckTimeout)
	defer cancel()
	results := make(map[string]string, len(s.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range s.checks {
		wg.Go(func() {
			res := "ok"
			if err := check(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	status := http.StatusOK
	names := make([]string, 0, len(results))
	for name, res := range results {
		names = append(names, name)
		if res != "ok" {
			status = http.StatusServiceUnavailable
		}
	}
	sort.Strings(names)
	if status != http.StatusOK {
		s.log.Warn().Interface("checks", results).Msg("Not ready")
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": results})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
