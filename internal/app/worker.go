package app

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// RunWorker runs the Temporal worker, and its HTTP server for operators, until ctx ends.
func RunWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger) error {
	mailer, err := mail.New(cfg.SMTPAddr, cfg.MailFrom)
	if err != nil {
		return err
	}
	web, err := newWorkerHTTP(cfg.HTTPAddr, log)
	if err != nil {
		return err
	}
	// Listen first: an address in use fails start-up at once, not after the retries.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (WORKER_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	// The server answers probes while PostgreSQL and Temporal are retried, and stops
	// after the worker, so its drain can be watched.
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return web.Server.Serve(serverCtx, ln) })
	g.Go(func() error {
		defer stopServer()
		return runWorker(ctx, cfg, log, mailer, web)
	})
	return g.Wait()
}

func runWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger, mailer *mail.Mailer, web *workerHTTP) error {
	var st *store.Store
	err := retry.Until(ctx, log, "PostgreSQL at DATABASE_URL", func(ctx context.Context) (err error) {
		st, err = store.Open(ctx, cfg.DatabaseURL)
		return err
	})
	if err != nil {
		return ignoreCanceled(err)
	}
	defer st.Close()
	web.Ready.PostgreSQL.Set(st.Ping)
	nc, js, err := connectNATS(cfg.Common, "flowbridge-worker", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	web.Ready.NATS.Set(natsCheck(nc))

	var tc client.Client
	err = retry.Until(ctx, log, "Temporal at TEMPORAL_ADDRESS", func(ctx context.Context) (err error) {
		tc, err = client.DialContext(ctx, client.Options{
			HostPort:       cfg.TemporalAddress,
			Namespace:      cfg.TemporalNamespace,
			Logger:         temporalLogger(log),
			MetricsHandler: web.Temporal,
		})
		return err
	})
	if err != nil {
		return ignoreCanceled(err)
	}
	defer tc.Close()
	web.Ready.Temporal.Set(temporalCheck(tc))

	acts := &activities.Activities{
		Store:     st,
		Mailer:    mailer,
		Stripe:    activities.NewStripeClient(cfg.StripeAPIKey, cfg.StripeAPIBase),
		Publisher: events.NewPublisher(js),
		Log:       log,
		AppURL:    cfg.AppURL,
	}
	if err := acts.Validate(); err != nil {
		return err
	}
	deploys, err := activities.NewDeploys(activities.Deploys{
		Store: st, Publisher: acts.Publisher, Temporal: tc, WorkspaceRoot: cfg.DeployWorkspace, Log: log,
	})
	if err != nil {
		return err
	}
	// A fatal worker error (the namespace was deleted, say) ends the process with it, so
	// its supervisor restarts it rather than leave a worker that polls nothing.
	ctx, fatal := context.WithCancelCause(ctx)
	defer fatal(nil)
	w := worker.New(tc, cfg.TaskQueue, worker.Options{
		Interceptors: []interceptor.WorkerInterceptor{web.Activities},
		OnFatalError: func(err error) {
			web.Ready.Failed(err)
			fatal(fmt.Errorf("worker stopped: %w", err))
		},
	})
	Register(w, acts, deploys, Workflows{
		Onboarding: workflows.OnboardingConfig{ReminderAfter: cfg.ReminderAfter, ExpireAfter: cfg.ExpireAfter},
		Payments:   workflows.PaymentConfig{TenantWait: cfg.PaymentTenantWait},
		Deploy:     workflows.DeployConfig{HeartbeatTimeout: cfg.DeployHeartbeatTimeout},
		Connectors: workflows.ConnectorConfig{MaxPages: cfg.ConnectorSyncMaxPages},
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	web.Ready.Started()
	log.Info().Str("task_queue", cfg.TaskQueue).Msg("Worker running")
	<-ctx.Done()
	log.Info().Msg("Worker stopping: finishing running activities")
	web.Ready.Stopping()
	w.Stop()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Workflows configures the workflows the worker runs. Zero fields take each
// workflow's defaults.
type Workflows struct {
	Onboarding workflows.OnboardingConfig
	Payments   workflows.PaymentConfig
	Deploy     workflows.DeployConfig
	Connectors workflows.ConnectorConfig
}

// Register registers every workflow and activity with r (a worker). deploys may be nil
// when the worker runs no BlueprintDeploy activities (tests of other workflows).
func Register(r worker.Registry, acts *activities.Activities, deploys *activities.Deploys, cfg Workflows) {
	o := &workflows.Onboarding{Config: cfg.Onboarding}
	r.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: workflows.UserOnboardingWorkflow})
	p := &workflows.Payments{Config: cfg.Payments}
	r.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: workflows.PaymentProcessingWorkflow})
	d := &workflows.Deploy{Config: cfg.Deploy}
	r.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: workflows.BlueprintDeployWorkflow})
	cs := &workflows.Connectors{Config: cfg.Connectors}
	r.RegisterWorkflowWithOptions(cs.ConnectorSync, workflow.RegisterOptions{Name: workflows.ConnectorSyncWorkflow})
	r.RegisterActivity(acts)
	if deploys != nil {
		r.RegisterActivity(deploys)
	}
}
