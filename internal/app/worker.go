package app

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/retry"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// RunWorker runs the Temporal worker until ctx ends.
func RunWorker(ctx context.Context, cfg config.Worker, log zerolog.Logger) error {
	mailer, err := mail.New(cfg.SMTPAddr, cfg.MailFrom)
	if err != nil {
		return err
	}
	var st *store.Store
	err = retry.Until(ctx, log, "PostgreSQL at DATABASE_URL", func(ctx context.Context) (err error) {
		st, err = store.Open(ctx, cfg.DatabaseURL)
		return err
	})
	if err != nil {
		return ignoreCanceled(err)
	}
	defer st.Close()
	nc, js, err := connectNATS(cfg.Common, "flowbridge-worker", log)
	if err != nil {
		return err
	}
	defer nc.Close()

	var tc client.Client
	err = retry.Until(ctx, log, "Temporal at TEMPORAL_ADDRESS", func(ctx context.Context) (err error) {
		tc, err = client.DialContext(ctx, client.Options{
			HostPort:  cfg.TemporalAddress,
			Namespace: cfg.TemporalNamespace,
			Logger:    temporalLogger(log),
		})
		return err
	})
	if err != nil {
		return ignoreCanceled(err)
	}
	defer tc.Close()

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
	w := worker.New(tc, cfg.TaskQueue, worker.Options{})
	Register(w, acts, deploys, Workflows{
		Onboarding: workflows.OnboardingConfig{ReminderAfter: cfg.ReminderAfter, ExpireAfter: cfg.ExpireAfter},
		Payments:   workflows.PaymentConfig{TenantWait: cfg.PaymentTenantWait},
		Deploy:     workflows.DeployConfig{HeartbeatTimeout: cfg.DeployHeartbeatTimeout},
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	log.Info().Str("task_queue", cfg.TaskQueue).Msg("Worker running")
	<-ctx.Done()
	log.Info().Msg("Worker stopping: finishing running activities")
	w.Stop()
	return nil
}

// Workflows configures the workflows the worker runs. Zero fields take each
// workflow's defaults.
type Workflows struct {
	Onboarding workflows.OnboardingConfig
	Payments   workflows.PaymentConfig
	Deploy     workflows.DeployConfig
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
	r.RegisterActivity(acts)
	if deploys != nil {
		r.RegisterActivity(deploys)
	}
}
