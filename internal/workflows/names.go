package workflows

import (
	"encoding/json"
	"time"
)

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

// Event is the CloudEvent that started or signalled a workflow, as the bridge hands it
// over: the input of every event-started workflow and the payload of every signal. Its ID
// makes signals idempotent (see SignalInbox) and becomes the causation id of the events
// the workflow emits.
type Event struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Source        string          `json:"source"`
	Subject       string          `json:"subject,omitempty"`
	Time          time.Time       `json:"time,omitzero"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

// DecodeData decodes the event's data into v, a pointer to a struct.
func (e Event) DecodeData(v any) error {
	// Decoding JSON into a struct is deterministic; workflowcheck cannot see that through
	// encoding/json's reflection.
	//workflowcheck:ignore
	return json.Unmarshal(e.Data, v)
}
