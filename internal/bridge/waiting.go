package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// The waiting room. A signal for a workflow that does not exist yet (email.verified
// overtaking its user.signedup) is not retried on EVENTS, where every retry would hold a
// slot of the consumer's ack-pending window and a few thousand of them would stop the
// very signups that release them. It is parked instead: copied to EVENTS_WAITING on a
// subject of its workflow id, then acked on EVENTS. Two things bring it back:
//
//   - wake: a bridge that has just started (or found running) a workflow looks up, by
//     direct get on that workflow's subject, the signals parked for it and delivers them
//     at once, in the order they were parked, before the next event for that workflow;
//   - the bridge-waiting consumer: every parked signal is tried again with a backoff
//     (2s doubling to 60s) at low priority, for workflows started by someone else or
//     missed by a wake, until BRIDGE_SIGNAL_WAIT from when its event was first stored;
//     then it is dead-lettered with the reason.
//
// Signals carry the same request id however often they are tried, so Temporal applies
// each once even when a wake and a retry deliver it at the same time.

// Headers of a parked signal (beside the original's own, NATS's excepted).
const (
	// headerWaitingRoute names the route whose signal waits: decisions from it on are
	// applied when the signal comes back (the ones before it were done).
	headerWaitingRoute = "Flowbridge-Waiting-Route"
	// headerWaitingSince is when the event was stored on EVENTS: BRIDGE_SIGNAL_WAIT counts
	// from there.
	headerWaitingSince = "Flowbridge-Waiting-Since"
	// headerOriginalSubject is the subject the event arrived on (events.<type>).
	headerOriginalSubject = "Flowbridge-Original-Subject"
)

// parkedMaxDelay is the longest a parked signal waits between two tries by the
// bridge-waiting consumer (a wake does not wait for it).
const parkedMaxDelay = 60 * time.Second

// parked describes an item that came back from EVENTS_WAITING.
type parked struct {
	route   string
	since   time.Time // when the event was stored on EVENTS
	seq     uint64    // its sequence on EVENTS
	subject string    // its subject on EVENTS
}

// waitingRoom is the bridge's handle on EVENTS_WAITING; nil when the stream is missing
// (the bridge then retries waiting signals on EVENTS, as before the waiting room).
type waitingRoom struct {
	stream jetstream.Stream
	// maybe is set while EVENTS_WAITING may hold signals (this bridge parked one, or the
	// sampler saw some): only then does a start look for signals to wake.
	maybe atomic.Bool
}

// WaitingSubject is the EVENTS_WAITING subject of the signals parked for workflowID: a
// hash, since a workflow id may hold any character.
func WaitingSubject(workflowID string) string {
	h := sha256.Sum256([]byte(workflowID))
	return events.WaitingPrefix + hex.EncodeToString(h[:16])
}

// park copies it to EVENTS_WAITING for decision d (which found no workflow) and the
// decisions after it. On success the caller acks the original.
func (b *Bridge) park(ctx context.Context, it item, meta *jetstream.MsgMetadata, d routing.Decision) error {
	m := headersOf(it.msg, WaitingSubject(d.WorkflowID))
	m.Header.Set(headerWaitingRoute, d.Route)
	subject, seq := it.origin(meta)
	m.Header.Set(headerWaitingSince, it.storedAt(meta).UTC().Format(time.RFC3339Nano))
	m.Header.Set(headerOriginalSubject, subject)
	m.Header.Set(events.HeaderStreamSeq, strconv.FormatUint(seq, 10))
	// One parked copy per event and route, however often the original is redelivered.
	m.Header.Set(events.HeaderMsgID, "waiting-"+requestID(it.ev.ID(), d))
	m.Data = it.msg.Data()
	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, m, jetstream.WithExpectStream(events.WaitingStream)); err != nil {
		return fmt.Errorf("park in %s: %w", events.WaitingStream, err)
	}
	b.waiting.maybe.Store(true)
	return nil
}

// prepareParked makes an item of a message from EVENTS_WAITING: its event, and the
// decisions from its waiting route on, as routed now.
func (b *Bridge) prepareParked(msg jetstream.Msg) (it item) {
	it = item{msg: msg, key: msg.Subject()}
	defer catchPanic(b.log, &it.err)
	h := msg.Headers()
	p := &parked{route: h.Get(headerWaitingRoute), subject: h.Get(headerOriginalSubject)}
	p.seq, _ = strconv.ParseUint(h.Get(events.HeaderStreamSeq), 10, 64)
	since, err := time.Parse(time.RFC3339Nano, h.Get(headerWaitingSince))
	if err != nil {
		since = time.Now() // not ours: give it a full wait rather than none
	}
	p.since = since
	it.parked = p
	ev, err := events.Decode(h, msg.Data())
	if err != nil {
		it.err = err
		return it
	}
	it.ev = ev
	data := events.DecodeData(ev.Data())
	decisions, misses, err := b.routes.DecideData(ev, data)
	if err != nil {
		it.err = err
		return it
	}
	it.misses = misses
	for i, d := range decisions {
		if d.Route == p.route {
			it.decisions = decisions[i:]
			it.key = d.WorkflowID
			return it
		}
	}
	it.err = permanent(fmt.Errorf("%w: the signal waited for route %s, which no longer takes this event", routing.ErrUnroutable, p.route))
	return it
}

// wake delivers the signals parked for workflowID, which now runs, in the order they
// were parked. Each delivered one is deleted from EVENTS_WAITING; one that fails stays
// there for the bridge-waiting consumer. It runs in the job of the event that started
// the workflow, so the signals come before any later event for it.
func (b *Bridge) wake(ctx context.Context, workflowID string) {
	if b.waiting == nil || !b.waiting.maybe.Load() {
		return
	}
	subject := WaitingSubject(workflowID)
	for seq := uint64(1); ; {
		raw, err := b.waiting.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgNotFound) {
				b.log.Debug().Err(err).Str(logging.FieldWorkflowID, workflowID).Msg("Could not look up parked signals; the waiting consumer will deliver them")
			}
			return
		}
		seq = raw.Sequence + 1
		it := b.prepareParked(rawMsg{raw})
		if it.err != nil || it.key != workflowID {
			continue // a hash collision, or not routable now: the waiting consumer decides
		}
		if !b.deliverParked(ctx, it) {
			return // the rest after this one, in order, by the waiting consumer
		}
		if err := b.waiting.stream.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			b.log.Debug().Err(err).Msg("Could not delete a woken signal from EVENTS_WAITING; the waiting consumer will find it delivered")
		}
	}
}

// deliverParked applies a woken item's decisions and records the delivery (outcome
// routed, on its EVENTS_WAITING subject and sequence); true when all were done.
func (b *Bridge) deliverParked(ctx context.Context, it item) bool {
	begin := time.Now()
	meta, _ := it.msg.Metadata()
	out := b.newOutcome(it, meta)
	out.Outcome = OutcomeRouted
	for _, d := range it.decisions {
		res, err := b.apply(ctx, it.ev, d, it.parked.since)
		if err != nil {
			return false
		}
		out.Routes = append(out.Routes, RouteResult{Route: d.Route, Action: string(d.Action), WorkflowID: d.WorkflowID, RunID: res.runID, Result: res.status})
		if e := b.log.Debug(); e != nil {
			e.Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID).
				Str("result", res.status).Msg("Woke a parked signal")
		}
	}
	b.metrics.woken.Inc()
	typ := b.metricType(it.ev.Type())
	b.metrics.count(typ, OutcomeRouted)
	b.metrics.observe(typ, it.decisions[0].Action, begin)
	out.SettledAt = time.Now()
	b.record(out)
	return true
}

// parkedRetryDelay is the bridge-waiting consumer's backoff for a signal whose workflow
// is still missing: 2s, 4s, 8s ... up to parkedMaxDelay.
func parkedRetryDelay(delivered uint64) time.Duration {
	return min(2*time.Second<<min(max(delivered, 1)-1, 5), parkedMaxDelay)
}

// sampleWaiting keeps waiting.maybe true while EVENTS_WAITING's consumer holds any
// signal, so this bridge wakes signals parked by another replica too; it checks every
// interval until ctx ends.
func (b *Bridge) sampleWaiting(ctx context.Context, cons jetstream.Consumer, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ictx, cancel := context.WithTimeout(ctx, interval)
			info, err := cons.Info(ictx)
			cancel()
			if err == nil {
				b.waiting.maybe.Store(info.NumPending+uint64(info.NumAckPending) > 0)
			}
		}
	}
}

// rawMsg makes a message read by direct get look like a delivered one, for prepareParked.
// It cannot be settled: a woken signal is deleted instead.
type rawMsg struct{ raw *jetstream.RawStreamMsg }

func (m rawMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.raw.Sequence}, NumDelivered: 1, Timestamp: m.raw.Time, Stream: events.WaitingStream}, nil
}
func (m rawMsg) Data() []byte                     { return m.raw.Data }
func (m rawMsg) Headers() nats.Header             { return m.raw.Header }
func (m rawMsg) Subject() string                  { return m.raw.Subject }
func (m rawMsg) Reply() string                    { return "" }
func (m rawMsg) Ack() error                       { return errNotDelivered }
func (m rawMsg) DoubleAck(context.Context) error  { return errNotDelivered }
func (m rawMsg) Nak() error                       { return errNotDelivered }
func (m rawMsg) NakWithDelay(time.Duration) error { return errNotDelivered }
func (m rawMsg) InProgress() error                { return errNotDelivered }
func (m rawMsg) Term() error                      { return errNotDelivered }
func (m rawMsg) TermWithReason(string) error      { return errNotDelivered }

var errNotDelivered = errors.New("a message read by direct get cannot be settled")
