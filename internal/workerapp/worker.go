// Package workerapp wires the worker binary together from its configuration: the
// Temporal worker with every workflow and activity registered, its operations server
// (WORKER_HTTP_ADDR), the schedules, and `worker migrate`. It uses internal/app for the
// connections both binaries share.
package workerapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/ops"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/telemetry/temporaltrace"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// RunWorker runs the Temporal worker, and its HTTP server for operators, until ctx ends.
// It returns an error, so that the process exits non-zero and is restarted, when the
// worker fails or NATS closes its connection for good.
func RunWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger) error {
	// NATS first: connecting does not wait for the server (it is retried in the
	// background), and the server's liveness check is the connection's.
	nc, err := app.ConnectNATS(cfg.Common, "flowbridge-worker", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	return runWorkerWith(ctx, cfg, log, nc)
}

// runWorkerWith is RunWorker on a NATS connection the caller opened and closes.
func runWorkerWith(ctx context.Context, cfg config.Worker, log zerolog.Logger, nc *app.NATSConn) error {
	mailer, err := mail.New(mail.Config{
		Addr: cfg.SMTPAddr, From: cfg.MailFrom, TLS: mail.TLS(cfg.SMTPTLS), CAFile: cfg.SMTPTLSCA,
		Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, Auth: mail.Auth(cfg.SMTPAuth), AllowInsecureAuth: cfg.SMTPAuthAllowInsecure,
	})
	if err != nil {
		return err
	}
	web, err := newWorkerHTTP(cfg.HTTPAddr, log, map[string]ops.Check{"nats": nc.Alive}, nc)
	if err != nil {
		return err
	}
	defer func() { _ = web.Temporal.Close() }() // after the client: only stops its reporting
	web.Ready.NATS.Set(nc.Ready)
	tp, stopTracing, err := app.StartTracing(ctx, cfg.Tracing, "flowbridge-worker", log)
	if err != nil {
		return err
	}
	defer stopTracing() // after the worker stopped: its last spans are flushed
	// Listen first: an address in use fails start-up at once, not after the retries.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (WORKER_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	// The server answers probes while PostgreSQL and Temporal are retried, and stops
	// after the worker, so its drain can be watched; so does the watch of the NATS
	// connection, whose close for good ends the process with an error.
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return web.Server.Serve(serverCtx, ln) })
	g.Go(func() error { return nc.Watch(serverCtx) })
	g.Go(func() error {
		defer stopServer()
		return runWorker(ctx, cfg, log, mailer, web, nc.JS, tp)
	})
	return g.Wait()
}

func runWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger, mailer *mail.Mailer, web *workerHTTP, js jetstream.JetStream, tp trace.TracerProvider) error {
	specs, err := workerSchedules(cfg)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return app.IgnoreCanceled(err)
	}
	defer st.Close()
	web.Ready.PostgreSQL.Set(app.PostgresCheck(st.Ping))

	opts, err := workerClientOptions(cfg, log, web, tp)
	if err != nil {
		return err
	}
	var tc client.Client
	err = retry.Until(ctx, log, "Temporal at TEMPORAL_ADDRESS", func(ctx context.Context) (err error) {
		tc, err = client.DialContext(ctx, opts)
		return err
	})
	if err != nil {
		return app.IgnoreCanceled(err)
	}
	defer tc.Close()
	web.Ready.Temporal.Set(app.TemporalCheck(tc))

	acts := &activities.Activities{
		Store:     st,
		Mailer:    mailer,
		Stripe:    activities.NewStripeClient(cfg.StripeAPIKey, cfg.StripeAPIBase),
		Publisher: telemetry.TracePublisher(events.NewPublisher(js), tp), // result events join the activity's trace
		Log:       log,
		AppURL:    cfg.AppURL,
	}
	if err := acts.Validate(); err != nil {
		return err
	}
	ownQueue := workerTaskQueue(cfg)
	deploys, err := activities.NewDeploys(activities.Deploys{
		Store: st, Publisher: acts.Publisher, Temporal: tc, WorkspaceRoot: cfg.DeployWorkspace, TaskQueue: ownQueue,
		AllowedRepos: cfg.DeployAllowedRepos, Log: log,
	})
	if err != nil {
		return err
	}
	// A fatal worker error (the namespace was deleted, say) ends the process with it, so
	// its supervisor restarts it rather than leave a worker that polls nothing.
	ctx, fatal := context.WithCancelCause(ctx)
	defer fatal(nil)
	// The steps of a deploy run on the worker that checked it out, through the task
	// queue that this worker alone polls.
	pinned := newTemporalWorkerOn(tc, ownQueue, cfg, web, fatal)
	RegisterPinned(pinned, deploys)
	w := newTemporalWorker(tc, cfg, web, fatal)
	Register(w, acts, deploys, Workflows{
		Onboarding: workflows.OnboardingConfig{ReminderAfter: cfg.ReminderAfter, ExpireAfter: cfg.ExpireAfter},
		Payments:   workflows.PaymentConfig{TenantWait: cfg.PaymentTenantWait},
		Deploy:     workflows.DeployConfig{HeartbeatTimeout: cfg.DeployHeartbeatTimeout},
		Connectors: workflows.ConnectorConfig{MaxPages: cfg.ConnectorSyncMaxPages},
		Scheduled: workflows.ScheduledConfig{
			EmailRetention: cfg.SentEmailRetention, NotificationRetention: cfg.NotificationRetention,
			WorkspaceRoot: deploys.WorkspaceRoot, WorkspaceMaxAge: cfg.DeployWorkspaceRetention,
			BackupDir: cfg.BackupDir, BackupKeep: cfg.BackupKeep,
		},
	})
	if err := ensureSchedules(ctx, tc, cfg, specs, log); err != nil {
		return err
	}
	warnIfLocal(log, "BACKUP_DIR", cfg.BackupDir, "docs/CONTRACT.md, BACKUP_DIR")
	log.Info().Str("worker_task_queue", ownQueue).Str("workspace_root", deploys.WorkspaceRoot).Msg("Deploy steps run on the worker that checked the deploy out, through its own task queue")
	return runUntilDone(ctx, cfg, log, web, w, pinned)
}

// workerTaskQueue is the task queue of this worker alone: WORKER_TASK_QUEUE, or
// <TEMPORAL_TASK_QUEUE>-worker-<host>-<pid>, unique among the running workers.
func workerTaskQueue(cfg config.Worker) string {
	if cfg.WorkerTaskQueue != "" {
		return cfg.WorkerTaskQueue
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s-worker-%s-%d", cfg.TaskQueue, host, os.Getpid())
}

// workerClientOptions are the options of the worker's Temporal client: TemporalOptions,
// the SDK's metrics into web and, with tp, the SDK's tracing interceptor, which the
// worker built on the client runs too: its workflows' and activities' spans are the
// children of the span in the header of their start or signal (the bridge's).
func workerClientOptions(cfg config.Worker, log zerolog.Logger, web *workerHTTP, tp trace.TracerProvider) (client.Options, error) {
	opts, err := app.TemporalOptions(cfg.Temporal, log)
	if err != nil {
		return client.Options{}, err
	}
	opts.MetricsHandler = web.Temporal.Handler()
	tracers, err := temporaltrace.Interceptors(tp)
	if err != nil {
		return client.Options{}, err
	}
	opts.Interceptors = append(opts.Interceptors, tracers...)
	return opts, nil
}

// newTemporalWorker returns the worker of cfg.TaskQueue with the options every flowbridge
// worker runs with. fatal is called when it stops for good.
func newTemporalWorker(tc client.Client, cfg config.Worker, web *workerHTTP, fatal func(error)) worker.Worker {
	return newWorkerOn(tc, cfg.TaskQueue, cfg, web, fatal, false)
}

// newTemporalWorkerOn is newTemporalWorker for the task queue of this worker alone, on
// which it runs activities only.
func newTemporalWorkerOn(tc client.Client, queue string, cfg config.Worker, web *workerHTTP, fatal func(error)) worker.Worker {
	return newWorkerOn(tc, queue, cfg, web, fatal, true)
}

func newWorkerOn(tc client.Client, queue string, cfg config.Worker, web *workerHTTP, fatal func(error), activitiesOnly bool) worker.Worker {
	return worker.New(tc, queue, worker.Options{
		DisableWorkflowWorker: activitiesOnly,
		Interceptors:          []interceptor.WorkerInterceptor{web.Activities},
		// Stop lets running activities finish, their context still live, for this long
		// before it cancels them (the SDK's default, 0, cancels them at once).
		WorkerStopTimeout: cfg.StopTimeout,
		OnFatalError: func(err error) {
			web.Ready.Failed(ops.Redact("the worker stopped for good (its log says why)", err))
			fatal(fmt.Errorf("worker stopped: %w", err))
		},
	})
}

// runUntilDone starts the workers ws and runs them until ctx ends (SIGTERM); then they
// stop polling, all at once, and wait for their running activities to finish, for up to
// WORKER_STOP_TIMEOUT, before it returns. It returns ctx's cause unless that is
// context.Canceled (our own shutdown).
func runUntilDone(ctx context.Context, cfg config.Worker, log zerolog.Logger, web *workerHTTP, ws ...worker.Worker) error {
	for i, w := range ws {
		if err := w.Start(); err != nil {
			for _, started := range ws[:i] {
				started.Stop()
			}
			return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
		}
	}
	web.Ready.Started()
	log.Info().Str("task_queue", cfg.TaskQueue).Msg("Worker running")
	<-ctx.Done()
	log.Info().Dur("stop_timeout", cfg.StopTimeout).Msg("Worker stopping: polling no more; running activities may finish within WORKER_STOP_TIMEOUT")
	web.Ready.Stopping()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.Stop)
	}
	wg.Wait()
	log.Info().Msg("Worker stopped")
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// openStore opens the database, retrying while PostgreSQL is away until ctx ends (its
// error then). A schema behind this build, or migrated differently, stops the worker at
// once, saying what to do (run `worker migrate`): the worker never migrates, and waiting
// would hide the missing step.
func openStore(ctx context.Context, databaseURL string, log zerolog.Logger) (*store.Store, error) {
	var st *store.Store
	var schemaErr error
	err := retry.Until(ctx, log, "PostgreSQL at DATABASE_URL", func(ctx context.Context) (err error) {
		st, err = store.Open(ctx, databaseURL)
		if errors.Is(err, store.ErrSchemaBehind) || errors.Is(err, store.ErrMigrationChanged) {
			schemaErr = err // retrying cannot help
			return nil
		}
		return err
	})
	if schemaErr != nil {
		return nil, schemaErr
	}
	return st, err
}

// Workflows configures the workflows the worker runs. Zero fields take each
// workflow's defaults.
type Workflows struct {
	Onboarding workflows.OnboardingConfig
	Payments   workflows.PaymentConfig
	Deploy     workflows.DeployConfig
	Connectors workflows.ConnectorConfig
	Scheduled  workflows.ScheduledConfig
}
