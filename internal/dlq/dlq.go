// Package dlq lets an operator act on the bridge's dead letters: list and inspect what is
// on EVENTS_DLQ, replay dead letters onto EVENTS once their cause is fixed, and purge the
// ones nobody needs.
//
// A dead letter (docs/CONTRACT.md) is the original message on dlq.events.<type> with its
// body and headers, but NATS's own (Nats-*), plus Flowbridge-Error and the other
// Flowbridge-* headers the bridge adds; one that would not fit the server's max_payload
// is truncated and says so in Flowbridge-Truncated. It is named by its sequence in
// EVENTS_DLQ.
//
// Replay is an operator action and never automatic: a replayed event that fails again is
// dead-lettered again by the bridge, as a new dead letter, and stays there until someone
// replays or purges it.
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
)

// TypeUnknown is the type of a dead letter on dlq.events.unknown: the bridge could not
// read the event's type, so it cannot be replayed onto a subject.
const TypeUnknown = "unknown"

// HeaderReplayedFrom is set on a replayed event to the sequence of the dead letter it
// came from.
const HeaderReplayedFrom = "Flowbridge-Replayed-From"

// dlqEventsPrefix is the subject prefix of the dead letters of events: dlq.events.<type>.
const dlqEventsPrefix = events.DLQPrefix + events.SubjectPrefix

var (
	// ErrNoStream is returned when the server has no EVENTS_DLQ stream (or, for a replay,
	// no EVENTS stream): the bridge creates both at start-up.
	ErrNoStream = errors.New("stream not found")
	// ErrNotFound is returned by Get for a sequence that holds no dead letter.
	ErrNotFound = errors.New("dead letter not found")
	// ErrInvalidFilter is wrapped by the error for a Filter that cannot be applied.
	ErrInvalidFilter = errors.New("invalid filter")
)

// DeadLetter is one message on EVENTS_DLQ.
type DeadLetter struct {
	// Seq is its sequence in EVENTS_DLQ: what Get, Replay and Purge name it by.
	Seq uint64
	// Subject is where it is stored: dlq.events.<type>.
	Subject string
	// Type is the event type read from Subject: TypeUnknown for dlq.events.unknown, ""
	// for a message that is not on dlq.events.>.
	Type string
	// StoredAt is when EVENTS_DLQ stored it.
	StoredAt time.Time
	// EventID is the CloudEvent id: the ce-id header, else the id of a structured body;
	// "" when neither can be read.
	EventID string
	// Reason is the Flowbridge-Error header: why the bridge dead-lettered it.
	Reason string
	// Header holds every header as stored: the original ones but Nats-*, plus Flowbridge-*.
	Header nats.Header
	// Data is the original body.
	Data []byte
}

// Queue reads and changes the dead letters on EVENTS_DLQ. It is safe for concurrent use,
// but two replays or purges of the same dead letters at once are not coordinated beyond
// what the stream guarantees (see Replay).
type Queue struct {
	js jetstream.JetStream
	// idle bounds the wait for the next message of a listing that the stream said was
	// there; it only matters when dead letters are deleted while they are being listed.
	idle time.Duration
}

// New returns a Queue on js. Requests use js's default timeout (5 s) when the caller's
// context has no deadline.
func New(js jetstream.JetStream) *Queue {
	return &Queue{js: js, idle: 2 * time.Second}
}

// Get returns the dead letter with sequence seq. It returns an error wrapping ErrNotFound
// when there is none, and ErrNoStream when there is no EVENTS_DLQ stream.
func (q *Queue) Get(ctx context.Context, seq uint64) (DeadLetter, error) {
	s, err := q.stream(ctx, events.DLQStream)
	if err != nil {
		return DeadLetter{}, err
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: %s has no sequence %d (replayed, purged, or never there)", ErrNotFound, events.DLQStream, seq)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("get dead letter %d from %s: %w", seq, events.DLQStream, err)
	}
	return newDeadLetter(m.Sequence, m.Subject, m.Time, m.Header, m.Data), nil
}

// stream looks up a stream, mapping "not found" to ErrNoStream.
func (q *Queue) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := q.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, noStreamError(name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", name, err)
	}
	return s, nil
}

// noStreamError names the missing stream and matches ErrNoStream.
type noStreamError string

func (e noStreamError) Error() string        { return "no " + string(e) + " stream" }
func (e noStreamError) Is(target error) bool { return target == ErrNoStream }

func newDeadLetter(seq uint64, subject string, storedAt time.Time, h nats.Header, data []byte) DeadLetter {
	return DeadLetter{
		Seq:      seq,
		Subject:  subject,
		Type:     typeOf(subject),
		StoredAt: storedAt.UTC(),
		EventID:  eventID(h, data),
		Reason:   events.HeaderValue(h, events.HeaderError),
		Header:   h,
		Data:     data,
	}
}

// typeOf reads the event type from a dead letter's subject.
func typeOf(subject string) string {
	if subject == events.DLQUnknown {
		return TypeUnknown
	}
	t, ok := strings.CutPrefix(subject, dlqEventsPrefix)
	if !ok || events.CheckType(t) != nil {
		return ""
	}
	return t
}

// eventID reads the CloudEvent id without decoding the whole event, which may be the very
// thing that failed.
func eventID(h nats.Header, data []byte) string {
	if id := events.HeaderValue(h, "ce-id"); id != "" {
		return id
	}
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &probe) == nil {
		return probe.ID
	}
	return ""
}
