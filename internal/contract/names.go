package contract

// Workflow types, as registered by the worker and started by the bridge.
const (
	UserOnboardingWorkflow    = "UserOnboarding"
	PaymentProcessingWorkflow = "PaymentProcessing"
	BlueprintDeployWorkflow   = "BlueprintDeploy"
	ConnectorSyncWorkflow     = "ConnectorSync"
	DailyReportWorkflow       = "DailyReport"
	CleanupWorkflow           = "Cleanup"
	BackupWorkflow            = "Backup"
)

// Workflows lists every workflow type, the ones a route may start.
var Workflows = []string{
	UserOnboardingWorkflow, PaymentProcessingWorkflow, BlueprintDeployWorkflow, ConnectorSyncWorkflow,
	DailyReportWorkflow, CleanupWorkflow, BackupWorkflow,
}

// Signal names.
const (
	SignalEmailVerified = "email-verified"
)

// DefaultTaskQueue is the task queue of the contract; TEMPORAL_TASK_QUEUE overrides it.
const DefaultTaskQueue = "flowbridge"

// Memo keys of a workflow started by an event, so the Temporal UI shows its origin.
const (
	MemoEventID     = "ce_id"
	MemoEventType   = "ce_type"
	MemoEventSource = "ce_source"
)

// Custom search attributes (Keyword) of the workflows events start, which `bridge setup`
// registers in the namespace: the id, type and correlation id of the event.
const (
	SearchAttributeEventID       = "FlowbridgeEventId"
	SearchAttributeEventType     = "FlowbridgeEventType"
	SearchAttributeCorrelationID = "FlowbridgeCorrelationId"
)
