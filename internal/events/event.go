// Package events is flowbridge's view of CloudEvents 1.0 on NATS JetStream: decoding and
// encoding both content modes, publishing with Nats-Msg-Id, provisioning the EVENTS and
// EVENTS_DLQ streams, and validating event data against the JSON Schemas in schemas/.
//
// It knows nothing of Temporal: the bridge and the activities build on it.
package events

import (
	"errors"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// Event is the CloudEvents SDK's event model; flowbridge adds no wrapper of its own.
type Event = cloudevents.Event

// Stream and subject names from the contract.
const (
	Stream         = "EVENTS"
	StreamSubjects = "events.>"
	SubjectPrefix  = "events."
	DLQStream      = "EVENTS_DLQ"
	DLQSubjects    = "dlq.>"
	DLQPrefix      = "dlq."
	DLQUnknown     = "dlq.events.unknown"
	BridgeConsumer = "bridge"
	// WaitingStream holds signals parked until their workflow exists (an email.verified
	// that overtook its user.signedup), one subject per target workflow id (WaitingSubject),
	// read back by the WaitingConsumer: waiting happens there, outside EVENTS' ack-pending
	// window, so parked signals never hold up fresh events.
	WaitingStream   = "EVENTS_WAITING"
	WaitingSubjects = "waiting.>"
	WaitingPrefix   = "waiting."
	WaitingConsumer = "bridge-waiting"
	HeaderError     = "Flowbridge-Error"
	HeaderStreamSeq = "Flowbridge-Stream-Sequence"
	HeaderFailedAt  = "Flowbridge-Failed-At"
	// HeaderTruncated marks a dead letter cut to fit the server's max_payload (or refused
	// whole by EVENTS_DLQ): it says the original's size and what was cut. The whole event
	// stays on EVENTS, at Flowbridge-Stream-Sequence, until the stream's retention.
	HeaderTruncated = "Flowbridge-Truncated"
	// HeaderMsgID is JetStream's de-duplication header; publishers set it to the event id.
	HeaderMsgID = "Nats-Msg-Id"
)

// Lineage extensions: result events carry the id of the event that caused them and a
// correlation id that stays the same along a whole chain of events.
const (
	ExtCausationID   = "causationid"
	ExtCorrelationID = "correlationid"
)

// ErrMalformed is wrapped by every error that means an event can never be routed as it
// is: it is dead-lettered rather than retried.
var ErrMalformed = errors.New("malformed event")

// Subject is the subject an event of type eventType lives on.
func Subject(eventType string) string { return SubjectPrefix + eventType }

// DLQSubject is the dead-letter subject for an event of type eventType: always a valid
// subject, dlq.events.unknown when eventType is "" or fails CheckType.
func DLQSubject(eventType string) string {
	if CheckType(eventType) != nil {
		return DLQUnknown
	}
	return DLQPrefix + Subject(eventType)
}

// CorrelationID returns ev's correlation id, or its own id when it starts a chain.
func CorrelationID(ev Event) string {
	if v, ok := ev.Extensions()[ExtCorrelationID].(string); ok && v != "" {
		return v
	}
	return ev.ID()
}
