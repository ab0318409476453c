package contract

// Event types of the contract (docs/CONTRACT.md, "Event types and what they do"); each
// has its schema in schemas/<type>.json and its data struct in this package (Payloads).
const (
	// Onboarding: user.signedup starts UserOnboarding; email.verified signals it.
	TypeUserSignedUp          = "user.signedup"           // UserSignedUp
	TypeEmailVerified         = "email.verified"          // EmailVerified
	TypeEmailVerificationSent = "email.verification_sent" // EmailVerificationSent
	TypeTenantCreated         = "tenant.created"          // TenantCreated
	TypeBillingReady          = "billing.ready"           // BillingReady
	TypeOnboardingCompleted   = "onboarding.completed"    // OnboardingCompleted
	TypeOnboardingExpired     = "onboarding.expired"      // OnboardingExpired

	// Payments: the Stripe webhook publishes stripe.paid, which starts PaymentProcessing.
	TypeStripePaid       = "stripe.paid"       // StripePaid
	TypePaymentRecorded  = "payment.recorded"  // PaymentRecorded
	TypeInvoiceSent      = "invoice.sent"      // InvoiceSent
	TypePaymentProcessed = "payment.processed" // PaymentProcessed

	// Deploys: the GitHub webhook publishes blueprint.pushed, which starts BlueprintDeploy.
	TypeBlueprintPushed = "blueprint.pushed" // BlueprintPushed
	TypeDeployStarted   = "deploy.started"   // DeployEvent
	TypeDeploySucceeded = "deploy.succeeded" // DeployEvent
	TypeDeployFailed    = "deploy.failed"    // DeployEvent

	// Connectors: connector.sync.requested starts ConnectorSync.
	TypeConnectorSyncRequested = "connector.sync.requested" // ConnectorSyncRequested
	TypeConnectorSynced        = "connector.synced"         // ConnectorSynced

	// Scheduled: DailyReport emits report.daily.
	TypeReportDaily = "report.daily" // DailyReport
)

// Prefixes of the types the webhooks forward as they are: stripe.<Stripe event type>
// (all but the payments, which become stripe.paid) and github.<GitHub event>.
const (
	TypePrefixStripe = "stripe."
	TypePrefixGitHub = "github."
)

// Payloads maps each event type to a zero value of its data struct. The schema test
// holds every pair against schemas/<type>.json.
func Payloads() map[string]any {
	return map[string]any{
		TypeUserSignedUp:           UserSignedUp{},
		TypeEmailVerified:          EmailVerified{},
		TypeEmailVerificationSent:  EmailVerificationSent{},
		TypeTenantCreated:          TenantCreated{},
		TypeBillingReady:           BillingReady{},
		TypeOnboardingCompleted:    OnboardingCompleted{},
		TypeOnboardingExpired:      OnboardingExpired{},
		TypeStripePaid:             StripePaid{},
		TypePaymentRecorded:        PaymentRecorded{},
		TypeInvoiceSent:            InvoiceSent{},
		TypePaymentProcessed:       PaymentProcessed{},
		TypeBlueprintPushed:        BlueprintPushed{},
		TypeDeployStarted:          DeployEvent{},
		TypeDeploySucceeded:        DeployEvent{},
		TypeDeployFailed:           DeployEvent{},
		TypeConnectorSyncRequested: ConnectorSyncRequested{},
		TypeConnectorSynced:        ConnectorSynced{},
		TypeReportDaily:            DailyReport{},
	}
}
