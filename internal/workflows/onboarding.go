package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// OnboardingConfig holds UserOnboarding's timings. Zero fields take the defaults.
type OnboardingConfig struct {
	ReminderAfter time.Duration // Optional: defaults to 24h.
	ExpireAfter   time.Duration // Optional: defaults to 72h; counted from the start.
}

func (c OnboardingConfig) withDefaults() OnboardingConfig {
	if c.ReminderAfter <= 0 {
		c.ReminderAfter = 24 * time.Hour
	}
	if c.ExpireAfter <= 0 {
		c.ExpireAfter = 72 * time.Hour
	}
	return c
}

// Onboarding carries the configuration of UserOnboarding; the worker registers its
// method.
type Onboarding struct {
	Config OnboardingConfig
}

// OnboardingResult is what UserOnboarding returns.
type OnboardingResult struct {
	TenantID string `json:"tenant_id,omitempty"`
	Status   string `json:"status"` // contract.OnboardingStatusComplete or contract.OnboardingStatusExpired
}

// UserOnboarding takes a new user from signup to a tenant with billing: it sends the
// verification email, waits for the email-verified signal (reminding once, giving up
// after ExpireAfter), then creates the tenant and its Stripe customer.
func (o *Onboarding) UserOnboarding(ctx workflow.Context, ev contract.Event) (OnboardingResult, error) {
	status, err := newProgress(ctx)
	if err != nil {
		return OnboardingResult{}, err
	}
	var in contract.UserSignedUp
	if err := ev.DecodeData(&in); err != nil || in.UserID == "" || in.Email == "" {
		return OnboardingResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("event %s: data must carry user_id and email", ev.ID), contract.ErrorTypeInvalidInput, err)
	}
	var cfg OnboardingConfig
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return o.Config.withDefaults() }).Get(&cfg); err != nil {
		return OnboardingResult{}, err
	}
	log := workflow.GetLogger(ctx)
	cause := activities.Cause{EventID: ev.ID, CorrelationID: ev.CorrelationID}
	ctx = withShortOptions(ctx)
	var a *activities.Activities

	email := activities.EmailInput{UserID: in.UserID, Email: in.Email, Name: in.Name, Kind: activities.EmailVerification, Cause: cause}
	status.set(ctx, contract.StepSendVerification, activitySendEmail, "Sending the verification email to "+in.Email)
	if err := workflow.ExecuteActivity(withSummary(ctx, "verification email"), a.SendEmail, email).Get(ctx, nil); err != nil {
		return OnboardingResult{}, err
	}

	waiting := fmt.Sprintf("Waiting for user %s to verify %s (signal %s)", in.UserID, in.Email, contract.SignalEmailVerified)
	status.set(ctx, contract.StepAwaitVerification, contract.SignalEmailVerified, waiting)
	verified, err := awaitVerification(ctx, cfg, status, func() error {
		email.Kind = activities.EmailReminder
		if err := workflow.ExecuteActivity(withSummary(ctx, "reminder email"), a.SendEmail, email).Get(ctx, nil); err != nil {
			return err
		}
		status.note(ctx, waiting+"; reminder sent "+workflow.Now(ctx).UTC().Format(time.RFC3339))
		return nil
	})
	if err != nil {
		return OnboardingResult{}, err
	}
	if !verified {
		log.Info("Email never verified; onboarding expired", "user_id", in.UserID)
		status.set(ctx, contract.StepReportOutcome, activityEmit, in.Email+" was never verified; emitting "+contract.TypeOnboardingExpired)
		expired := activities.EmitInput{Type: contract.TypeOnboardingExpired, Data: contract.OnboardingExpired{UserID: in.UserID, Email: in.Email}, Cause: cause}
		if err := workflow.ExecuteActivity(withSummary(ctx, contract.TypeOnboardingExpired), a.Emit, expired).Get(ctx, nil); err != nil {
			return OnboardingResult{}, err
		}
		status.done(ctx, contract.OnboardingStatusExpired, in.Email+" was never verified")
		return OnboardingResult{Status: contract.OnboardingStatusExpired}, nil
	}

	status.set(ctx, contract.StepCreateTenant, activityCreateTenant, "Creating the tenant of user "+in.UserID)
	var tenant activities.TenantOutput
	if err := workflow.ExecuteActivity(withSummary(ctx, "tenant of "+in.UserID), a.CreateTenant, activities.TenantInput{UserID: in.UserID, Email: in.Email, Cause: cause}).Get(ctx, &tenant); err != nil {
		return OnboardingResult{}, err
	}
	status.set(ctx, contract.StepSetupBilling, activitySetupBilling, "Creating the Stripe customer of tenant "+tenant.TenantID)
	billing := activities.BillingInput{TenantID: tenant.TenantID, Email: in.Email, Name: in.Name, Cause: cause}
	if err := workflow.ExecuteActivity(withSummary(ctx, "Stripe customer of "+tenant.TenantID), a.SetupBilling, billing).Get(ctx, nil); err != nil {
		return OnboardingResult{}, err
	}
	res := OnboardingResult{TenantID: tenant.TenantID, Status: contract.OnboardingStatusComplete}
	status.set(ctx, contract.StepReportOutcome, activityEmit, "Emitting "+contract.TypeOnboardingCompleted)
	done := activities.EmitInput{Type: contract.TypeOnboardingCompleted, Data: contract.OnboardingCompleted{UserID: in.UserID, TenantID: res.TenantID, Status: res.Status}, Cause: cause}
	if err := workflow.ExecuteActivity(withSummary(ctx, contract.TypeOnboardingCompleted), a.Emit, done).Get(ctx, nil); err != nil {
		return OnboardingResult{}, err
	}
	status.done(ctx, res.Status, "Tenant "+res.TenantID+" is ready")
	return res, nil
}

// awaitVerification waits for the email-verified signal. It calls remind once when
// ReminderAfter has passed, and gives up (false) when ExpireAfter has passed since start;
// status gets that deadline.
func awaitVerification(ctx workflow.Context, cfg OnboardingConfig, status *progress, remind func() error) (bool, error) {
	inbox := NewSignalInbox(ctx, contract.SignalEmailVerified)
	timerCtx, cancelTimers := workflow.WithCancel(ctx)
	defer cancelTimers()
	reminder := workflow.NewTimer(timerCtx, cfg.ReminderAfter)
	expiry := workflow.NewTimer(timerCtx, cfg.ExpireAfter)
	status.until(ctx, workflow.Now(ctx).Add(cfg.ExpireAfter))

	verified, expired, reminded := false, false, false
	var remindErr error
	for !verified && !expired && remindErr == nil {
		sel := workflow.NewSelector(ctx)
		inbox.AddTo(ctx, sel, func(contract.Event) { verified = true })
		sel.AddFuture(expiry, func(workflow.Future) { expired = true })
		if !reminded {
			sel.AddFuture(reminder, func(workflow.Future) {
				reminded = true
				remindErr = remind()
			})
		}
		sel.Select(ctx)
	}
	return verified, remindErr
}
