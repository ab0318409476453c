package bridge

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Outcomes of one delivery of an event: the outcome label of
// flowbridge_bridge_events_total and Outcome.Outcome.
const (
	OutcomeRouted       = "routed"        // Temporal took at least one start/signal/cancel
	OutcomeDuplicate    = "duplicate"     // every route found its work already done
	OutcomeIgnored      = "ignored"       // no route takes this event type
	OutcomeWaiting      = "waiting"       // a signal parked in EVENTS_WAITING until its workflow exists
	OutcomeHeld         = "held"          // in a route's debounce or batch window (EVENTS_DEBOUNCE, EVENTS_BATCH)
	OutcomeDeadLettered = "dead_lettered" // stored on EVENTS_DLQ with the reason
	OutcomeRetried      = "retried"       // NAKed; the stream redelivers it after RetryIn
)

// Outcomes lists every outcome, for what takes one from an operator (`bridge events ls
// --outcome`).
var Outcomes = []string{OutcomeRouted, OutcomeDuplicate, OutcomeIgnored, OutcomeWaiting, OutcomeHeld, OutcomeDeadLettered, OutcomeRetried}

// Results of one matching route within a delivery: RouteResult.Result, and the ledger's
// route result.
const (
	ResultDone      = "done"      // Temporal took the start, signal-with-start, signal or cancel
	ResultDuplicate = "duplicate" // already done: the same request, the running workflow, nothing to cancel
	ResultIgnored   = "ignored"   // the route's action is ignore
	ResultWaiting   = "waiting"   // a signal parked in EVENTS_WAITING until its workflow exists
	ResultHeld      = "held"      // in the route's debounce or batch window
	ResultRetry     = "retry"     // failed transiently; the delivery is NAKed
	ResultFailed    = "failed"    // failed for good, or its retries ran out; the event is dead-lettered
)

// Outcome is what the bridge did with one delivery of an event: the record of "where did
// my event go". A Recorder receives one per delivery.
type Outcome struct {
	EventID       string
	EventType     string
	Source        string
	Subject       string // the NATS subject it arrived on
	CorrelationID string
	CausationID   string
	StreamSeq     uint64
	Delivered     uint64    // 1 on first delivery
	EventTime     time.Time // the event's time attribute; zero when it has none
	ReceivedAt    time.Time // when the stream stored it
	SettledAt     time.Time
	Outcome       string // one of the Outcome* constants
	Routes        []RouteResult
	Unmatched     []routing.Miss // routes whose types matched but whose filters did not, and why
	Error         string         // why it was dead-lettered or retried
	RetryIn       time.Duration  // for OutcomeRetried
}

// RouteResult is what one matching route did.
type RouteResult struct {
	Route      string
	Action     string
	WorkflowID string
	RunID      string
	Result     string // one of the Result* constants
}

// Recorder receives the outcome of every delivery. Record is called on the bridge's hot
// path, once per delivery, from many goroutines: it must be safe for concurrent use and
// must not block (buffer, and drop with a count when the buffer is full). Routing never
// waits for, nor depends on, a Recorder.
type Recorder interface {
	Record(Outcome)
}

type nopRecorder struct{}

func (nopRecorder) Record(Outcome) {}

func (b *Bridge) newOutcome(it item, meta *jetstream.MsgMetadata) Outcome {
	o := Outcome{
		EventID:    it.ev.ID(),
		EventType:  it.ev.Type(),
		Source:     it.ev.Source(),
		Subject:    it.msg.Subject(),
		StreamSeq:  meta.Sequence.Stream,
		Delivered:  meta.NumDelivered,
		EventTime:  it.ev.Time(),
		ReceivedAt: meta.Timestamp,
		Unmatched:  it.misses,
	}
	if p := it.parked; p != nil {
		// A delivery from EVENTS_WAITING: its subject and sequence are there (so the
		// ledger counts it as an attempt of its own); the event was received when EVENTS
		// stored it.
		o.ReceivedAt = p.since
	}
	if p := it.part; p != nil {
		// A delivery from a partition: it is the event's delivery, as from EVENTS.
		o.Subject, o.StreamSeq, o.ReceivedAt = p.subject, p.seq, p.since
	}
	if it.ev.ID() != "" {
		o.CorrelationID = events.CorrelationID(it.ev)
	}
	if v, ok := it.ev.Extensions()[events.ExtCausationID].(string); ok {
		o.CausationID = v
	}
	return o
}

// retry marks the delivery for redelivery after a backoff.
func (o *Outcome) retry(meta *jetstream.MsgMetadata, err error) {
	o.Outcome = OutcomeRetried
	o.Error = err.Error()
	o.RetryIn = retryDelay(meta.NumDelivered, err)
}

// storedAt is when it's event was stored on EVENTS (BRIDGE_SIGNAL_WAIT and retry ages
// count from there), also for a signal back from EVENTS_WAITING.
func (it item) storedAt(meta *jetstream.MsgMetadata) time.Time {
	if it.parked != nil {
		return it.parked.since
	}
	if it.part != nil {
		return it.part.since
	}
	return meta.Timestamp
}

// origin is the subject and sequence of it's event on EVENTS, also for an event from a
// partition.
func (it item) origin(meta *jetstream.MsgMetadata) (subject string, seq uint64) {
	if it.part != nil {
		return it.part.subject, it.part.seq
	}
	return it.msg.Subject(), meta.Sequence.Stream
}
