package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes CloudEvents onto the EVENTS stream and waits for the stream to
// store them. It is safe for concurrent use.
type Publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewPublisher returns a publisher on js. Publish uses a 5 s timeout when the caller's
// context has no deadline.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js, timeout: 5 * time.Second}
}

// PublishResult says where the stream stored an event.
type PublishResult struct {
	Sequence uint64
	// Duplicate is true when the stream already held an event with this id (within its
	// duplicate window) and dropped this one.
	Duplicate bool
}

// Publish stores ev on events.<type> in binary content mode with Nats-Msg-Id = ev.ID().
// It returns only after the stream acknowledged the write, so a nil error means the event
// is durable. Errors wrap ErrMalformed for an invalid event (an *AttributeError for one
// out of CheckAttributes' bounds), which is never sent: an out-of-bounds type would make
// an invalid subject, and the server closes a connection that publishes on one. Any other
// error is transient.
func (p *Publisher) Publish(ctx context.Context, ev Event) (PublishResult, error) {
	m, err := Encode(ev)
	if err != nil {
		return PublishResult{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	ack, err := p.js.PublishMsg(ctx, m, jetstream.WithExpectStream(Stream))
	if err != nil {
		return PublishResult{}, fmt.Errorf("publish %s id %s: %w", m.Subject, ev.ID(), err)
	}
	return PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
