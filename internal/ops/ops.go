// Package ops is the operations HTTP server both binaries run for their operators:
// liveness (GET /healthz), readiness naming each check's result (GET /readyz), Prometheus
// metrics (GET /metrics) and Go's profiler (/debug/pprof/), plus routes added with Handle
// (the bridge's event ledger). It listens on an address of its own — the bridge's
// ADMIN_ADDR, the worker's WORKER_HTTP_ADDR — never on the public webhook port.
//
// Its Mux answers unknown paths and wrong methods in JSON; the bridge's public server
// (internal/ingress) uses it too, and Serve.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Config configures the operations server. Zero values take the defaults noted.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// Setting names where Addr came from ("ADMIN_ADDR"), for errors. Optional.
	Setting string
	// Gatherer is what GET /metrics serves. Optional: without it there is no /metrics.
	Gatherer prometheus.Gatherer
	// Live are the liveness checks: GET /healthz answers 503 when one fails, so the
	// process's supervisor restarts it. They must not do I/O: an outage of a dependency
	// is not a reason to restart. Optional.
	Live map[string]Check
	// Ready are the readiness checks, GET /readyz. Optional.
	Ready map[string]Check
	// CheckTimeout bounds each check. Optional: defaults to DefaultCheckTimeout (2s).
	CheckTimeout time.Duration
	// ReadHeaderTimeout bounds a client's headers. Optional: defaults to 5s.
	ReadHeaderTimeout time.Duration
}

// Server is the operations HTTP server.
type Server struct {
	cfg Config
	mux *Mux
	log zerolog.Logger

	// mu guards last: what the log last said of each kind of check ("Not alive",
	// "Not ready"), so failures are logged when they change, not on every probe.
	mu   sync.Mutex
	last map[string]string
}

// New returns the server. Go's profiler is registered on its own routes only: the
// process never serves http.DefaultServeMux, where importing net/http/pprof also puts it.
func New(cfg Config, log zerolog.Logger) *Server {
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 5 * time.Second
	}
	if cfg.Setting == "" {
		cfg.Setting = "the operations address"
	}
	s := &Server{cfg: cfg, mux: NewMux(), log: log.With().Str("component", "ops").Logger()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also serves each named profile
	// No /debug/pprof/cmdline: the command line can hold secrets (-database-url, -stripe-api-key).
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return s
}

// Handle adds a route, with a pattern as http.ServeMux takes it. Call it before Run or
// Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's routes, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

// Run listens on Addr and serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", s.cfg.Addr, s.cfg.Setting, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return Serve(ctx, &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		// pprof's profile and trace stream for as long as asked (?seconds=, 30s unless
		// said otherwise); they refuse to run longer than this.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}, ln, s.log)
}

// Serve serves srv on ln until ctx ends, then shuts it down gracefully, waiting up to 10s
// for requests in flight. It returns an error only when serving fails.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, log zerolog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Msg("HTTP server listening")
	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("HTTP shutdown on %s: %w", ln.Addr(), err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// healthz answers 200 while every liveness check passes, else 503; the body names each
// check's result.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	failed := RunChecks(r.Context(), s.cfg.Live, s.cfg.CheckTimeout)
	if len(failed) == 0 {
		s.logChange("Not alive", "Alive again", nil)
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "checks": results(s.cfg.Live, failed)})
		return
	}
	s.logChange("Not alive", "Alive again", failed)
	WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "failing", "checks": results(s.cfg.Live, failed)})
}

// readyz answers 200 when every readiness check passes, else 503; the body names each
// check's result.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	failed := RunChecks(r.Context(), s.cfg.Ready, s.cfg.CheckTimeout)
	status := http.StatusOK
	if len(failed) > 0 {
		status = http.StatusServiceUnavailable
	}
	s.logChange("Not ready", "Ready again", failed)
	WriteJSON(w, status, map[string]any{"ready": len(failed) == 0, "checks": results(s.cfg.Ready, failed)})
}

// logChange logs failed under msg when the failing checks or their errors differ from
// what was last logged under msg, and recovered once they all pass again: a probe every
// few seconds against a dependency that stays down writes one line, not one per probe.
func (s *Server) logChange(msg, recovered string, failed map[string]error) {
	names := make([]string, 0, len(failed))
	for name := range failed {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name + "=" + logged(failed[name]).Error() + "\n")
	}
	state := b.String()
	s.mu.Lock()
	if s.last == nil {
		s.last = map[string]string{}
	}
	before, seen := s.last[msg]
	s.last[msg] = state
	s.mu.Unlock()
	switch {
	case state == before:
	case state == "" && seen:
		s.log.Info().Msg(recovered)
	case state != "":
		d := zerolog.Dict()
		for _, name := range names {
			d = d.Str(name, logged(failed[name]).Error())
		}
		s.log.Warn().Dict("checks", d).Msg(msg)
	}
}

// results is "ok" for each check that passed and its error's text for each that failed.
func results(checks map[string]Check, failed map[string]error) map[string]string {
	out := make(map[string]string, len(checks))
	for name := range checks {
		out[name] = "ok"
		if err := failed[name]; err != nil {
			out[name] = err.Error()
		}
	}
	return out
}
