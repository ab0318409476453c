package contract

// UserSignedUp is the data of user.signedup.
type UserSignedUp struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
}

// EmailVerified is the data of email.verified, the signal SignalEmailVerified carries.
type EmailVerified struct {
	UserID string `json:"user_id"`
}

// EmailVerificationSent is the data of email.verification_sent.
type EmailVerificationSent struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// TenantCreated is the data of tenant.created.
type TenantCreated struct {
	UserID   string `json:"user_id"`
	TenantID string `json:"tenant_id"`
}

// BillingReady is the data of billing.ready.
type BillingReady struct {
	TenantID         string `json:"tenant_id"`
	StripeCustomerID string `json:"stripe_customer_id"`
}

// OnboardingCompleted is the data of onboarding.completed.
type OnboardingCompleted struct {
	UserID   string `json:"user_id"`
	TenantID string `json:"tenant_id"`
	Status   string `json:"status"` // always OnboardingStatusComplete
}

// OnboardingExpired is the data of onboarding.expired.
type OnboardingExpired struct {
	UserID string `json:"user_id"`
	Email  string `json:"email,omitempty"`
}

// Outcomes of UserOnboarding: its result's status, and onboarding.completed's.
const (
	OnboardingStatusComplete = "complete"
	OnboardingStatusExpired  = "expired"
)
