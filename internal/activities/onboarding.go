package activities

import (
	"context"
	"fmt"
	"net/url"

	"github.com/stripe/stripe-go/v85"
	"go.temporal.io/sdk/activity"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/mail"
)

// Email kinds of UserOnboarding.
const (
	EmailVerification = "verification"
	EmailReminder     = "reminder"
)

// EmailInput asks SendEmail for one onboarding email.
type EmailInput struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind"` // EmailVerification or EmailReminder
	Cause  Cause  `json:"cause"`
}

// SendEmail sends the verification or reminder email, at most once per workflow and
// kind, and emits email.verification_sent after the verification email. Credentials or
// an email the SMTP server refuses for good fail it without retries
// (contract.ErrorTypeSMTPAuthFailed, contract.ErrorTypeEmailRejected).
func (a *Activities) SendEmail(ctx context.Context, in EmailInput) error {
	key := activity.GetInfo(ctx).WorkflowExecution.ID + "/" + in.Kind
	msg := onboardingEmail(a.AppURL, in)
	if err := a.sendEmailOnce(ctx, key, fmt.Sprintf("send %s email to %s", in.Kind, in.Email), msg); err != nil {
		return err
	}
	if in.Kind != EmailVerification {
		return nil
	}
	return a.emit(ctx, in.Cause, contract.TypeEmailVerificationSent, contract.EmailVerificationSent{UserID: in.UserID, Email: in.Email})
}

func onboardingEmail(appURL string, in EmailInput) mail.Message {
	link := appURL + "/verify?user_id=" + url.QueryEscape(in.UserID)
	greeting := "Hello"
	if in.Name != "" {
		greeting += " " + in.Name
	}
	if in.Kind == EmailReminder {
		return mail.Message{
			To:      in.Email,
			Subject: "Reminder: please verify your email",
			Body:    greeting + ",\n\nYou signed up but have not verified your email yet. Verify it here:\n\n" + link + "\n",
		}
	}
	return mail.Message{
		To:      in.Email,
		Subject: "Verify your email",
		Body:    greeting + ",\n\nWelcome! Please verify your email address:\n\n" + link + "\n",
	}
}

// TenantInput asks CreateTenant for the tenant of a user.
type TenantInput struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Cause  Cause  `json:"cause"`
}

// TenantOutput is the tenant CreateTenant created or found.
type TenantOutput struct {
	TenantID string `json:"tenant_id"`
}

// CreateTenant creates the user's tenant (or finds the one a previous attempt created)
// and emits tenant.created.
func (a *Activities) CreateTenant(ctx context.Context, in TenantInput) (TenantOutput, error) {
	t, err := a.Store.EnsureTenant(ctx, in.UserID, in.Email)
	if err != nil {
		return TenantOutput{}, err
	}
	if err := a.emit(ctx, in.Cause, contract.TypeTenantCreated, contract.TenantCreated{UserID: in.UserID, TenantID: t.ID}); err != nil {
		return TenantOutput{}, err
	}
	return TenantOutput{TenantID: t.ID}, nil
}

// BillingInput asks SetupBilling for a tenant's Stripe customer.
type BillingInput struct {
	TenantID string `json:"tenant_id"`
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Cause    Cause  `json:"cause"`
}

// BillingOutput is the tenant's Stripe customer.
type BillingOutput struct {
	StripeCustomerID string `json:"stripe_customer_id"`
}

// SetupBilling creates the tenant's Stripe customer once (an idempotency key derived from
// the tenant id covers a retry whose answer was lost), stores its id, and emits
// billing.ready.
func (a *Activities) SetupBilling(ctx context.Context, in BillingInput) (BillingOutput, error) {
	t, err := a.Store.TenantByID(ctx, in.TenantID)
	if err != nil {
		return BillingOutput{}, err
	}
	customerID := t.StripeCustomerID
	if customerID == "" {
		params := &stripe.CustomerCreateParams{
			Email:    stripe.String(in.Email),
			Metadata: map[string]string{"tenant_id": in.TenantID, "user_id": t.OwnerUserID},
		}
		if in.Name != "" {
			params.Name = stripe.String(in.Name)
		}
		params.SetIdempotencyKey("flowbridge-tenant-" + in.TenantID)
		c, err := a.Stripe.V1Customers.Create(ctx, params)
		if err != nil {
			return BillingOutput{}, fmt.Errorf("create Stripe customer for tenant %s: %w", in.TenantID, err)
		}
		if customerID, err = a.Store.SetStripeCustomer(ctx, in.TenantID, c.ID); err != nil {
			return BillingOutput{}, err
		}
	}
	if err := a.emit(ctx, in.Cause, contract.TypeBillingReady, contract.BillingReady{TenantID: in.TenantID, StripeCustomerID: customerID}); err != nil {
		return BillingOutput{}, err
	}
	return BillingOutput{StripeCustomerID: customerID}, nil
}

// NewStripeClient returns a stripe-go client for apiBase (https://api.stripe.com, or
// stripe-mock's address locally).
func NewStripeClient(apiKey, apiBase string) *stripe.Client {
	retries := int64(2)
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(apiBase), MaxNetworkRetries: &retries})
	return stripe.NewClient(apiKey, stripe.WithBackends(backends))
}
