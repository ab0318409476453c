package workflows

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// PaymentConfig holds PaymentProcessing's timings. Zero fields take the defaults.
type PaymentConfig struct {
	// TenantWait is how long a payment for a Stripe customer that no tenant has yet waits
	// for one before the workflow fails. Optional: defaults to 24h.
	TenantWait time.Duration
}

func (c PaymentConfig) withDefaults() PaymentConfig {
	if c.TenantWait <= 0 {
		c.TenantWait = 24 * time.Hour
	}
	return c
}

// tenantPollMax is the longest pause between two lookups of a missing tenant, so a
// payment proceeds at most this long after its tenant appears.
const tenantPollMax = time.Minute

// Payments carries the configuration of PaymentProcessing; the worker registers its
// method.
type Payments struct {
	Config PaymentConfig
}

// PaymentResult is what PaymentProcessing returns.
type PaymentResult struct {
	PaymentID      string `json:"payment_id"`
	TenantID       string `json:"tenant_id"`
	InvoiceTo      string `json:"invoice_to"`
	NotificationID string `json:"notification_id"`
}

// PaymentProcessing handles a paid Stripe payment: it finds the customer's tenant (waiting
// up to TenantWait for onboarding to create it), records the payment, emails the invoice
// and notifies the tenant's users in the app; each step emits its result event
// (payment.recorded, invoice.sent, payment.processed).
//
// It fails with a non-retryable contract.ErrorTypeInvalidInput error for an event without usable
// data, and with a non-retryable contract.ErrorTypeUnknownCustomer error, logged at error level,
// when no tenant has the customer after TenantWait.
func (p *Payments) PaymentProcessing(ctx workflow.Context, ev contract.Event) (PaymentResult, error) {
	status, err := newProgress(ctx)
	if err != nil {
		return PaymentResult{}, err
	}
	var in contract.StripePaid
	if err := ev.DecodeData(&in); err != nil || in.PaymentID == "" || in.CustomerID == "" || in.Amount < 0 || len(in.Currency) != 3 {
		return PaymentResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("event %s: data must carry payment_id, customer_id, a non-negative amount and a 3-letter currency", ev.ID), contract.ErrorTypeInvalidInput, err)
	}
	var cfg PaymentConfig
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return p.Config.withDefaults() }).Get(&cfg); err != nil {
		return PaymentResult{}, err
	}
	cause := activities.Cause{EventID: ev.ID, CorrelationID: ev.CorrelationID}
	var a *activities.Activities

	tenant, err := awaitTenant(ctx, cfg, status, in)
	if err != nil {
		return PaymentResult{}, err
	}

	ctx = withShortOptions(ctx)
	record := activities.PaymentInput{
		PaymentID: in.PaymentID, TenantID: tenant.TenantID, CustomerID: in.CustomerID,
		Amount: in.Amount, Currency: in.Currency, LineItems: in.LineItems, Cause: cause,
	}
	status.set(ctx, contract.StepRecordPayment, activityRecordPayment, fmt.Sprintf("Recording payment %s for tenant %s", in.PaymentID, tenant.TenantID))
	if err := workflow.ExecuteActivity(withSummary(ctx, "record "+in.PaymentID), a.RecordPayment, record).Get(ctx, nil); err != nil {
		return PaymentResult{}, err
	}
	invoice := activities.InvoiceInput{
		PaymentID: in.PaymentID, TenantID: tenant.TenantID, Email: in.Email,
		Amount: in.Amount, Currency: in.Currency, LineItems: in.LineItems, Cause: cause,
	}
	if invoice.Email == "" {
		invoice.Email = tenant.OwnerEmail
	}
	status.set(ctx, contract.StepSendInvoice, activitySendInvoice, "Emailing the invoice to "+invoice.Email)
	if err := workflow.ExecuteActivity(withSummary(ctx, "invoice to "+invoice.Email), a.SendInvoice, invoice).Get(ctx, nil); err != nil {
		return PaymentResult{}, err
	}
	notify := activities.NotifyInput{PaymentID: in.PaymentID, TenantID: tenant.TenantID, Amount: in.Amount, Currency: in.Currency, Cause: cause}
	var notified activities.NotifyOutput
	status.set(ctx, contract.StepNotifyUser, activityNotifyUser, "Notifying the users of tenant "+tenant.TenantID)
	if err := workflow.ExecuteActivity(withSummary(ctx, "notify "+tenant.TenantID), a.NotifyUser, notify).Get(ctx, &notified); err != nil {
		return PaymentResult{}, err
	}
	status.done(ctx, contract.PaymentStatusProcessed, fmt.Sprintf("Payment %s recorded for tenant %s, invoice sent to %s", in.PaymentID, tenant.TenantID, invoice.Email))
	return PaymentResult{PaymentID: in.PaymentID, TenantID: tenant.TenantID, InvoiceTo: invoice.Email, NotificationID: notified.NotificationID}, nil
}

// awaitTenant returns the tenant of in.CustomerID, waiting up to cfg.TenantWait for it.
//
// The wait is a single activity whose retries do the polling: FindTenantByStripeCustomer
// fails with a retryable TenantNotFound error while there is no tenant, and the server
// retries it (1s apart at first, backing off to tenantPollMax) until its
// ScheduleToCloseTimeout, TenantWait, runs out. Retries of one activity add nothing to the
// workflow's history, so a 24h wait costs three events where a loop of lookups and
// workflow.Sleep would add about ten per lookup (over ten thousand a day at one a minute);
// and while it waits, the Temporal UI shows the pending activity with its attempt count
// and last failure, which names the missing customer.
func awaitTenant(ctx workflow.Context, cfg PaymentConfig, status *progress, in contract.StripePaid) (activities.CustomerTenant, error) {
	// Attempts are at least a second apart, so this cap never binds before the timeout
	// does. It is explicit because the SDK's test environment turns "unlimited" into ten.
	maxAttempts := int32(min(cfg.TenantWait/time.Second+1, math.MaxInt32))
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: cfg.TenantWait,
		StartToCloseTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: tenantPollMax, MaximumAttempts: maxAttempts,
		},
	})
	var a *activities.Activities
	started := workflow.Now(ctx)
	status.set(ctx, contract.StepFindTenant, activityFindTenant, "Looking up the tenant of Stripe customer "+in.CustomerID+"; a payment before onboarding has created it waits for it")
	status.until(ctx, started.Add(cfg.TenantWait))
	var tenant activities.CustomerTenant
	err := workflow.ExecuteActivity(withSummary(ctx, "tenant of "+in.CustomerID), a.FindTenantByStripeCustomer, activities.CustomerInput{CustomerID: in.CustomerID}).Get(ctx, &tenant)
	if err == nil {
		return tenant, nil
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrorTypeTenantNotFound {
		return activities.CustomerTenant{}, fmt.Errorf("payment %s: find the tenant of Stripe customer %s: %w", in.PaymentID, in.CustomerID, err)
	}
	waited := workflow.Now(ctx).Sub(started)
	workflow.GetLogger(ctx).Error("Payment for an unknown Stripe customer: no tenant appeared in time",
		"payment_id", in.PaymentID, "customer_id", in.CustomerID, "waited", waited.String(), "tenant_wait", cfg.TenantWait.String())
	return activities.CustomerTenant{}, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("payment %s: no tenant has Stripe customer %s; waited %s (tenant wait %s) for onboarding to create one. "+
			"Create the tenant or correct its stripe_customer_id, then reset workflow %s to its first workflow task to process the payment",
			in.PaymentID, in.CustomerID, waited.Round(time.Second), cfg.TenantWait, workflow.GetInfo(ctx).WorkflowExecution.ID),
		contract.ErrorTypeUnknownCustomer, err)
}
