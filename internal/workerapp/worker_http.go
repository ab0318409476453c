package workerapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/metrics/workermetrics"
	"github.com/flowbridge/flowbridge/internal/ops"
)

// workerHTTP is what the worker shows operators, on WORKER_HTTP_ADDR, with the operations
// server the bridge's admin address also uses: GET /healthz (alive: the NATS connection
// not closed for good), GET /readyz (PostgreSQL, NATS and Temporal reachable, the worker
// polling), GET /metrics (Go, process, build, NATS connection, the Temporal SDK's metrics
// and activity outcomes) and pprof.
type workerHTTP struct {
	Registry *prometheus.Registry
	// Temporal records the SDK's metrics: set its Handler as client.Options.MetricsHandler,
	// and Close it after the client.
	Temporal *metrics.Temporal
	// Activities counts activity outcomes: add it to worker.Options.Interceptors.
	Activities *workermetrics.ActivityOutcomes
	Ready      *workerReadiness
	Server     *ops.Server
}

// newWorkerHTTP builds the worker's registry, readiness and server, whose /healthz runs
// live; nc (nil: none) is the NATS connection whose state /metrics shows. It returns an
// error only when a metric cannot be registered.
func newWorkerHTTP(addr string, log zerolog.Logger, live map[string]ops.Check, nc *app.NATSConn) (*workerHTTP, error) {
	reg, err := app.NewRegistry("worker", nc)
	if err != nil {
		return nil, err
	}
	tm, err := metrics.NewTemporal(reg, log)
	if err != nil {
		return nil, err
	}
	acts, err := workermetrics.NewActivityOutcomes(reg)
	if err != nil {
		return nil, err
	}
	ready := newWorkerReadiness()
	return &workerHTTP{
		Registry:   reg,
		Temporal:   tm,
		Activities: acts,
		Ready:      ready,
		Server:     workerServer(addr, log, reg, live, ready.Checks()),
	}, nil
}

// workerServer returns the worker's HTTP server. /healthz runs live, and /readyz ready,
// concurrently, each check bounded by 2s, and answers 503 naming each check that failed.
func workerServer(addr string, log zerolog.Logger, gatherer prometheus.Gatherer, live, ready map[string]ops.Check) *ops.Server {
	return ops.New(ops.Config{Addr: addr, Setting: "WORKER_HTTP_ADDR", Gatherer: gatherer, Live: live, Ready: ready}, log)
}

// workerReadiness is what the worker's /readyz checks. The worker retries PostgreSQL and
// Temporal at start-up for as long as they are away, so its server runs from the start
// and each dependency's check is set once there is a connection to check: until then
// /readyz names what is still missing, and /healthz answers.
type workerReadiness struct {
	PostgreSQL lateCheck
	NATS       lateCheck
	Temporal   lateCheck

	mu     sync.Mutex
	worker error // nil while the worker polls
	failed bool
}

func newWorkerReadiness() *workerReadiness {
	return &workerReadiness{
		PostgreSQL: lateCheck{what: "PostgreSQL at DATABASE_URL"},
		NATS:       lateCheck{what: "NATS at NATS_URL"},
		Temporal:   lateCheck{what: "Temporal at TEMPORAL_ADDRESS"},
		worker:     errors.New("worker not started yet"),
	}
}

// Checks returns the checks for workerServer.
func (r *workerReadiness) Checks() map[string]ops.Check {
	return map[string]ops.Check{
		"postgresql": r.PostgreSQL.Check,
		"nats":       r.NATS.Check,
		"temporal":   r.Temporal.Check,
		"worker":     r.workerCheck,
	}
}

// Started marks the worker as polling its task queue.
func (r *workerReadiness) Started() { r.setWorker(nil, false) }

// Stopping marks the worker as draining: it takes no new tasks.
func (r *workerReadiness) Stopping() {
	r.setWorker(errors.New("worker stopping: finishing running activities"), false)
}

// Failed marks the worker as stopped by err, for worker.Options.OnFatalError. It stays
// failed.
func (r *workerReadiness) Failed(err error) { r.setWorker(fmt.Errorf("worker stopped: %w", err), true) }

func (r *workerReadiness) setWorker(err error, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return
	}
	r.worker, r.failed = err, failed
}

func (r *workerReadiness) workerCheck(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.worker
}

// lateCheck is a readiness check that fails, saying what it waits for, until Set.
type lateCheck struct {
	what  string
	check atomic.Pointer[ops.Check]
}

// Set makes check the check. Safe while the server runs.
func (c *lateCheck) Set(check ops.Check) { c.check.Store(&check) }

// Check runs the check set, or fails when none is.
func (c *lateCheck) Check(ctx context.Context) error {
	if check := c.check.Load(); check != nil {
		return (*check)(ctx)
	}
	return fmt.Errorf("not connected yet to %s (retrying)", c.what)
}
