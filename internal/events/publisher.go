package events

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PublishWindow is how many publishes of one Publisher may await their PubAck at once.
// Concurrent publishes share it: each is sent without waiting for the others' acks, so
// a thousand callers cost about one round trip, not a thousand in turn. One more waits
// for a free place (or for its context to end).
const PublishWindow = 1024

// ackTimeout is how long a PubAck may take before the publish fails. It frees the window
// place of a publish whose caller gave up, should its ack never come.
const ackTimeout = 30 * time.Second

// Publisher publishes CloudEvents onto the EVENTS stream and waits for the stream to
// store them. It is safe for concurrent use, and concurrent publishes are pipelined on
// the connection (JetStream async publish, PublishWindow at most awaiting their acks).
type Publisher struct {
	js      jetstream.JetStream // a context of its own on the caller's connection, for its async window
	window  chan struct{}       // a place per publish awaiting its ack
	timeout time.Duration
}

// NewPublisher returns a publisher on js's connection. Publish uses a 5 s timeout when the
// caller's context has no deadline. The publisher keeps a JetStream context of its own on
// that connection (default API prefix), for its window of async publishes.
func NewPublisher(js jetstream.JetStream) *Publisher {
	p := &Publisher{window: make(chan struct{}, PublishWindow), timeout: 5 * time.Second}
	if js == nil {
		return p
	}
	async, err := jetstream.New(js.Conn(),
		jetstream.WithPublishAsyncMaxPending(PublishWindow),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		// Cannot happen: the connection is set and the options are valid.
		panic(fmt.Sprintf("events: JetStream context for publishing: %v", err))
	}
	p.js = async
	return p
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
// error is transient: among them, the connection is away (a publish is never buffered to
// be sent after a reconnect when the connection has no reconnect buffer), the stream
// refused the event, or ctx ended before the ack came (the event may then be stored all
// the same; a retry with the same id is dropped as a duplicate).
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
	fail := func(err error) (PublishResult, error) {
		return PublishResult{}, fmt.Errorf("publish %s id %s: %w", m.Subject, ev.ID(), err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return fail(fmt.Errorf("waiting for a place among %d publishes awaiting their ack: %w", PublishWindow, ctx.Err()))
	}
	paf, err := p.js.PublishMsgAsync(m, jetstream.WithExpectStream(Stream))
	if err != nil {
		<-p.window
		return fail(err)
	}
	ok, failed := paf.Ok(), paf.Err()
	select {
	case ack := <-ok:
		<-p.window
		return PublishResult{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-failed:
		<-p.window
		return fail(err)
	case <-ctx.Done():
		// The place is freed once the ack, an error or ackTimeout ends the publish, so
		// that the window never holds more than the connection has outstanding.
		go func() {
			select {
			case <-ok:
			case <-failed:
			}
			<-p.window
		}()
		return fail(fmt.Errorf("waiting for the stream's ack: %w", ctx.Err()))
	}
}
