package contract

import "time"

// QueryStatus is the query UserOnboarding, PaymentProcessing, BlueprintDeploy and
// ConnectorSync answer with their WorkflowStatus:
// `temporal workflow query --workflow-id ID --type status`.
const QueryStatus = "status"

// WorkflowStatus is the answer to QueryStatus: where a workflow is and what it waits on.
// The same, in one line, is the workflow's "current details" in the Temporal UI.
type WorkflowStatus struct {
	// Step is the workflow's current step, one of its Step constants; StepDone once it
	// has ended.
	Step string `json:"step"`
	// WaitingFor is what the step waits on: the name of a signal (SignalEmailVerified)
	// or of an activity (SendEmail, RunDeployStep, ...); empty once done.
	WaitingFor string `json:"waiting_for,omitempty"`
	// Since is when the step began, in workflow time (UTC).
	Since time.Time `json:"since"`
	// Deadline, when set, is when the wait gives up: an onboarding expires, a payment
	// stops waiting for its tenant.
	Deadline *time.Time `json:"deadline,omitempty"`
	// Detail says the same for people, in one line.
	Detail string `json:"detail,omitempty"`
	// Outcome is set with StepDone: the workflow's result status (complete, expired,
	// processed, succeeded, failed, ...).
	Outcome string `json:"outcome,omitempty"`
	// Pages and Records count what a ConnectorSync has read so far.
	Pages   int `json:"pages,omitempty"`
	Records int `json:"records,omitempty"`
}

// StepDone is the step of a workflow that has ended; WorkflowStatus.Outcome says how.
const StepDone = "done"

// Steps of UserOnboarding, as its status names them.
const (
	StepSendVerification  = "send_verification"
	StepAwaitVerification = "await_verification" // waiting for SignalEmailVerified
	StepCreateTenant      = "create_tenant"
	StepSetupBilling      = "setup_billing"
	StepReportOutcome     = "report_outcome" // emitting onboarding.completed or .expired
)

// Steps of PaymentProcessing, as its status names them.
const (
	StepFindTenant    = "find_tenant" // waiting for the customer's tenant
	StepRecordPayment = "record_payment"
	StepSendInvoice   = "send_invoice"
	StepNotifyUser    = "notify_user"
)

// Steps of ConnectorSync, as its status names them.
const (
	StepSyncPages    = "sync_pages"
	StepCompleteSync = "complete_sync"
)

// StepFinish is BlueprintDeploy's last step before StepDone: recording the outcome and
// emitting deploy.succeeded or deploy.failed. Its other steps are the Step constants of
// deploy.failed (StepQueued ... StepRollback).
const StepFinish = "finish"

// Outcome of PaymentProcessing in its status.
const PaymentStatusProcessed = "processed"

// Outcome of ConnectorSync in its status.
const ConnectorStatusSynced = "synced"
