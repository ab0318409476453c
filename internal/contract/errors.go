package contract

// Temporal error types: the Type of the temporal.ApplicationError a workflow or an
// activity fails with, which callers (a parent workflow, an operator, an alert) match on.
// Non-retryable unless said otherwise.
const (
	// ErrorTypeInvalidInput: an event without usable data, or an activity input no retry
	// can make valid.
	ErrorTypeInvalidInput = "InvalidInput"
	// ErrorTypeInvalidEvent: a result event that cannot be encoded or that the stream
	// refuses as malformed.
	ErrorTypeInvalidEvent = "InvalidEvent"

	// ErrorTypeSMTPAuthFailed: the SMTP server refused SMTP_USERNAME and SMTP_PASSWORD.
	ErrorTypeSMTPAuthFailed = "SMTPAuthFailed"
	// ErrorTypeEmailRejected: the SMTP server refused the email for good (a 5xx reply:
	// an unknown recipient, a sender it does not accept).
	ErrorTypeEmailRejected = "EmailRejected"

	// ErrorTypeTenantNotFound: no tenant has the Stripe customer yet. Retryable:
	// PaymentProcessing lets Temporal retry it until its wait for the tenant runs out.
	ErrorTypeTenantNotFound = "TenantNotFound"
	// ErrorTypeUnknownCustomer: no tenant had the Stripe customer of a payment when
	// PaymentProcessing's wait for one ran out.
	ErrorTypeUnknownCustomer = "UnknownCustomer"

	// ErrorTypeDeployFailed: BlueprintDeploy's end when the deploy failed; its details
	// are the workflow's result.
	ErrorTypeDeployFailed = "DeployFailed"
	// ErrorTypeInvalidBlueprint: a commit without a valid blueprint.yaml.
	ErrorTypeInvalidBlueprint = "InvalidBlueprint"
	// ErrorTypeCommitNotFound: the pushed commit is on no branch or tag of the repository.
	ErrorTypeCommitNotFound = "CommitNotFound"
	// ErrorTypeRepositoryNotAllowed: DEPLOY_ALLOWED_REPOS does not name the repository,
	// or its clone URL is not one BlueprintDeploy may fetch.
	ErrorTypeRepositoryNotAllowed = "RepositoryNotAllowed"

	// ErrorTypeConnectorNotFound: no row in connectors has the id.
	ErrorTypeConnectorNotFound = "ConnectorNotFound"
	// ErrorTypeConnectorDisabled: the connector's enabled is false.
	ErrorTypeConnectorDisabled = "ConnectorDisabled"
	// ErrorTypeInvalidConnector: a kind or source URL this worker cannot sync.
	ErrorTypeInvalidConnector = "InvalidConnector"
	// ErrorTypeSourceRejected: the source answered 4xx (but 408 or 429).
	ErrorTypeSourceRejected = "SourceRejected"
	// ErrorTypeBadSourceResponse: the source answered 2xx with something that is not a
	// page of records.
	ErrorTypeBadSourceResponse = "BadSourceResponse"
	// ErrorTypeSourceUnavailable: the source answered 5xx, 408 or 429, or did not answer.
	// Retryable; a Retry-After header sets the delay.
	ErrorTypeSourceUnavailable = "SourceUnavailable"
	// ErrorTypeConnectorSyncFailed: ConnectorSync's end when its activities failed for a
	// reason of no type of their own (PostgreSQL unreachable, timeouts).
	ErrorTypeConnectorSyncFailed = "ConnectorSyncFailed"
)
