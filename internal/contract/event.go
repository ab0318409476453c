package contract

import (
	"encoding/json"
	"time"
)

// Event is the CloudEvent that started or signalled a workflow, as the bridge hands it
// over: the input of every event-started workflow and the payload of every signal. Its ID
// makes signals idempotent (workflows.SignalInbox) and becomes the causation id of the
// events the workflow emits.
type Event struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Source        string          `json:"source"`
	Subject       string          `json:"subject,omitempty"`
	Time          time.Time       `json:"time,omitzero"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

// DecodeData decodes the event's data into v, a pointer to one of this package's payload
// structs.
func (e Event) DecodeData(v any) error {
	// Decoding JSON into a struct is deterministic; workflowcheck cannot see that through
	// encoding/json's reflection.
	//workflowcheck:ignore
	return json.Unmarshal(e.Data, v)
}
