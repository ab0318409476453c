package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Windows: routes with debounce or batch (routing/window.go). An event such a route takes
// is not acted on: it is copied to EVENTS_DEBOUNCE or EVENTS_BATCH on a subject of its
// route and key (hold), then acked on EVENTS (outcome held). The window lives on the
// server, never in a bridge's memory, and the consumers bridge-debounce and bridge-batch
// close it:
//
//   - debounce: EVENTS_DEBOUNCE keeps one message per subject, so a newer event of the key
//     replaces the older (the server drops the older one's pending delivery with it). Each
//     stored event is delivered at once and NAKed until it is quiet old (its stream
//     timestamp); the one still there then is the last of its burst, and the route acts on
//     it as on any event (handle), which acks, and so removes, it.
//   - batch: EVENTS_BATCH keeps every event until its batch is delivered. Only the delivery
//     of a key's first (oldest) message may deliver a batch, so one replica at a time does
//     for each key: once size events are there, or the first is window old, it reads the
//     first size of them by direct get, makes one call with the list (its request id is
//     derived from the ids of the events in it, so a retried batch is the same call), then
//     deletes them, the first last — after it has delivered, the same way, every next
//     batch of the key that is already full. Other messages of the key wait (NAKed) for
//     the first's window, and then one of them is the first.
//
// A bridge that stops or dies mid-window loses nothing: the messages stay on the stream,
// pending, and whichever replica the server hands them to next closes the window.

// headerWindowRoute names the route whose window holds an event (a held copy also carries
// headerWaitingSince, headerOriginalSubject and events.HeaderStreamSeq, as a parked one).
const headerWindowRoute = "Flowbridge-Window-Route"

const (
	// batchPoll is the longest a key's first message waits between two looks at how many
	// events its batch holds, so a batch that fills is delivered within it.
	batchPoll = time.Second
	// windowMinDelay is the shortest NAK delay of a held message: its window is (nearly)
	// closed, but another message's delivery closes it.
	windowMinDelay = 250 * time.Millisecond
)

// windowMsg describes an item that came from a window's stream.
type windowMsg struct {
	kind  routing.WindowKind
	route string
	seq   uint64 // its sequence on EVENTS
}

// windows are the bridge's handles on the windows' streams; a nil one is not used by the
// routes.
type windows struct {
	debounce, batch jetstream.Stream
}

// openWindows finds the streams of the windows the routes use and creates or looks up
// their consumers. A missing stream is an error: the routes need it, and `bridge setup`
// (or BRIDGE_PROVISION) creates it.
func (b *Bridge) openWindows(ctx context.Context) (map[routing.WindowKind]jetstream.Consumer, error) {
	out := map[routing.WindowKind]jetstream.Consumer{}
	for kind := range b.routes.Windows() {
		name, cfg := events.DebounceStream, events.DebounceConsumerConfig(b.cfg.AckWait)
		if kind == routing.Batch {
			name, cfg = events.BatchStream, events.BatchConsumerConfig(b.cfg.AckWait)
		}
		s, err := b.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("routes use %s but stream %s does not exist: run `bridge setup` (or create it from deploy/nats)", kind, name)
		}
		if err != nil {
			return nil, fmt.Errorf("look up stream %s: %w", name, err)
		}
		c, err := events.Consumer(ctx, b.js, name, cfg, !b.cfg.LookUpConsumers)
		if err != nil {
			return nil, err
		}
		if kind == routing.Batch {
			b.windows.batch = s
		} else {
			b.windows.debounce = s
		}
		out[kind] = c
	}
	return out, nil
}

// windowKey is the scheduling key of the events a window holds: one at a time, in order.
func windowKey(w *routing.Window) string { return string(w.Kind) + "." + w.Hash }

// hold copies it to the stream of decision d's window, instead of acting on d now. On
// success the caller acks the original. The copy's Nats-Msg-Id is derived from the event
// and route, so a redelivered original is held once.
func (b *Bridge) hold(ctx context.Context, it item, meta *jetstream.MsgMetadata, d routing.Decision) error {
	stream, subject := events.DebounceStream, events.DebouncePrefix+d.Window.Hash
	if d.Window.Kind == routing.Batch {
		stream, subject = events.BatchStream, events.BatchPrefix+d.Window.Hash
	}
	m := headersOf(it.msg, subject)
	m.Header.Set(headerWindowRoute, d.Route)
	m.Header.Set(headerWaitingSince, it.storedAt(meta).UTC().Format(time.RFC3339Nano))
	origSubject, origSeq := it.origin(meta)
	m.Header.Set(headerOriginalSubject, origSubject)
	m.Header.Set(events.HeaderStreamSeq, strconv.FormatUint(origSeq, 10))
	m.Header.Set(events.HeaderMsgID, string(d.Window.Kind)+"-"+requestID(it.ev.ID(), d))
	m.Data = it.msg.Data()
	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, m, jetstream.WithExpectStream(stream)); err != nil {
		return fmt.Errorf("hold in %s: %w", stream, err)
	}
	b.metrics.windowHeld(d.Window.Kind, d.Route)
	return nil
}

// prepareWindow makes an item of a message from a window's stream: its event, and the
// decision of its route, as routed now (with its window, which says when it closes).
func (b *Bridge) prepareWindow(kind routing.WindowKind) func(jetstream.Msg) item {
	return func(msg jetstream.Msg) (it item) {
		it = item{msg: msg, key: msg.Subject(), window: &windowMsg{kind: kind, route: msg.Headers().Get(headerWindowRoute)}}
		defer catchPanic(b.log, &it.err)
		it.window.seq, _ = strconv.ParseUint(msg.Headers().Get(events.HeaderStreamSeq), 10, 64)
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			it.err = err
			return it
		}
		it.ev = ev
		decisions, misses, err := b.routes.DecideData(ev, events.DecodeData(ev.Data()))
		if err != nil {
			it.err = err
			return it
		}
		it.misses = misses
		for _, d := range decisions {
			if d.Route == it.window.route {
				it.decisions = []routing.Decision{d}
				return it
			}
		}
		it.err = permanent(fmt.Errorf("%w: the event was held for route %s, which no longer takes it", routing.ErrUnroutable, it.window.route))
		return it
	}
}

// handleWindow closes a window, or leaves it open for later: the job of a message from
// EVENTS_DEBOUNCE or EVENTS_BATCH.
func (b *Bridge) handleWindow(ctx context.Context, it item) {
	meta, err := it.msg.Metadata()
	if err != nil {
		b.handle(ctx, it) // logs and drops what cannot happen on a consumer
		return
	}
	var w *routing.Window // nil: broken, or its route no longer holds events this way
	if it.err == nil && it.decisions[0].Window != nil && it.decisions[0].Window.Kind == it.window.kind {
		w = it.decisions[0].Window
	}
	if it.window.kind == routing.Batch {
		b.handleBatch(ctx, it, meta, w)
		return
	}
	if w != nil {
		if wait := w.Quiet - time.Since(meta.Timestamp); wait > 0 {
			b.leave(it, meta, max(wait, windowMinDelay))
			return
		}
	}
	// The last of its burst (or broken: dead-lettered). handle acts on it as on any event
	// and acks it, which removes it from the work queue; a NAK leaves it for a retry.
	b.handle(ctx, withoutWindow(it))
}

// withoutWindow is it with its decisions' windows closed, for handle to act on them.
func withoutWindow(it item) item {
	if len(it.decisions) > 0 {
		ds := append([]routing.Decision(nil), it.decisions...)
		for i := range ds {
			ds[i].Window = nil
		}
		it.decisions = ds
	}
	return it
}

// leave NAKs a held message for the window to be looked at again after delay.
func (b *Bridge) leave(it item, meta *jetstream.MsgMetadata, delay time.Duration) {
	b.settle(it, meta, nakWithDelay(delay))
	b.settled.Add(1)
}

// handleBatch delivers the batch of it's key if it is the key's first message and the
// batch is due; else it leaves it for later. w is it's window; nil when it is broken or its
// route holds events no more: then it is delivered (or dead-lettered) alone, once first.
func (b *Bridge) handleBatch(ctx context.Context, it item, meta *jetstream.MsgMetadata, w *routing.Window) {
	stream, subject := b.windows.batch, it.msg.Subject()
	first, err := stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound): // delivered in a batch meanwhile
		b.settle(it, meta, ack)
		b.settled.Add(1)
		return
	case err != nil:
		b.log.Warn().Err(err).Str(logging.FieldSubject, subject).Msg("Could not read a batch; trying again")
		b.leave(it, meta, retryDelay(meta.NumDelivered, err))
		return
	case first.Sequence != meta.Sequence.Stream:
		// Not the first: the first's delivery delivers the batch, then this one may be.
		delay := batchPoll
		if w != nil {
			delay = max(w.Wait-time.Since(first.Time), 0) + windowMinDelay
		}
		b.leave(it, meta, delay)
		return
	case w == nil:
		b.deliverBatch(ctx, it, meta, 1, false)
		return
	}
	if age := time.Since(meta.Timestamp); age < w.Wait {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil || info.State.Subjects[subject] < uint64(w.Size) {
			b.leave(it, meta, min(w.Wait-age, batchPoll))
			return
		}
	}
	b.deliverBatch(ctx, it, meta, w.Size, true)
}

// member is one event of a batch, read by direct get.
type member struct {
	it   item
	meta *jetstream.MsgMetadata
}

// maxBatchRounds bounds the batches one delivery delivers in a row (deliverBatch).
const maxBatchRounds = 100

// deliverBatch delivers the batch of it's key (it is the key's first message) and then,
// while this delivery still keeps the key (its message is deleted last), each next batch
// that is already full: a burst of many events goes out in full batches at once, not one
// per window. A transient failure of the first batch leaves it as it is, to be tried
// again; of a later one, leaves it to the delivery of its own first message.
func (b *Bridge) deliverBatch(ctx context.Context, it item, meta *jetstream.MsgMetadata, size int, join bool) {
	stream, subject := b.windows.batch, it.msg.Subject()
	from := meta.Sequence.Stream
	for round := 0; round < maxBatchRounds; round++ {
		next, retryIn, ok := b.deliverOne(ctx, it, meta, from, size, join)
		if !ok && round == 0 {
			b.leave(it, meta, retryIn)
			return
		}
		if !ok || !join || ctx.Err() != nil {
			break
		}
		from = next
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil || info.State.Subjects[subject] < uint64(size)+1 { // +1: it, not deleted yet
			break
		}
	}
	b.deleteHeld(ctx, stream, meta.Sequence.Stream)
	b.settle(it, meta, ack)
	b.settled.Add(1)
}

// deliverOne reads the first size events of it's key from sequence from, makes the
// route's one call with them (joined into one list argument, or alone without join),
// records each, and deletes them from EVENTS_BATCH but it (deliverBatch deletes it last).
// An event that cannot be routed any more is dead-lettered alone. It returns the sequence
// after the batch's last event, or, when the batch must be tried again, false and when.
func (b *Bridge) deliverOne(ctx context.Context, it item, meta *jetstream.MsgMetadata, from uint64, size int, join bool) (next uint64, retryIn time.Duration, ok bool) {
	begin := time.Now()
	stream, subject := b.windows.batch, it.msg.Subject()
	var good, bad []member
	next = from
	for seq := from; len(good)+len(bad) < size; {
		raw, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			b.log.Warn().Err(err).Str(logging.FieldSubject, subject).Msg("Could not read a batch; trying again")
			return 0, retryDelay(meta.NumDelivered, err), false
		}
		seq, next = raw.Sequence+1, raw.Sequence+1
		m := member{it: b.prepareWindow(routing.Batch)(rawMsg{raw})}
		m.meta, _ = m.it.msg.Metadata()
		if raw.Sequence == meta.Sequence.Stream {
			m.it, m.meta = it, meta // the delivered one: its settlement is real
		}
		if m.it.err != nil || len(m.it.decisions) == 0 {
			bad = append(bad, m)
		} else {
			good = append(good, m)
		}
	}
	if len(good) > 0 {
		ds := make([]routing.Decision, len(good))
		ids := make([]string, len(good))
		for i, m := range good {
			ds[i], ids[i] = m.it.decisions[0], m.it.ev.ID()
		}
		d, err := ds[0], error(nil)
		if join {
			if d, err = routing.JoinBatch(ids, ds); err != nil {
				err = permanent(err)
			}
		}
		var res applied
		since := good[0].meta.Timestamp
		if err == nil {
			res, err = b.apply(ctx, good[0].it.ev, d, since)
		}
		if err != nil && !isPermanent(err) {
			if exhausted := b.retriesExhausted(d, meta, since, err); exhausted != nil {
				b.metrics.retryExhausted(b.metricType(good[0].it.ev.Type()), d.Route)
				err = permanent(exhausted)
			}
		}
		switch {
		case err == nil:
			b.metrics.windowDelivered(routing.Batch, d.Route, len(good))
			log := b.log.Debug()
			if len(good) > 1 || res.status != ResultDone {
				log = b.log.Info()
			}
			if log != nil {
				log.Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID).Str("action", string(d.Action)).
					Int("events", len(good)).Str("first_event", ids[0]).Str("result", res.status).Msg("Delivered a batch")
			}
			for _, m := range good {
				b.recordWindowed(m, RouteResult{Route: d.Route, Action: string(d.Action), WorkflowID: d.WorkflowID, RunID: res.runID, Result: res.status}, begin)
			}
			if d.Action != routing.Signal {
				b.wake(ctx, d.WorkflowID)
			}
		case isPermanent(err):
			bad = append(bad, markFailed(good, err)...)
		default:
			b.log.Warn().Err(err).Str(logging.FieldRoute, d.Route).Str(logging.FieldWorkflowID, d.WorkflowID).Int("events", len(good)).
				Msg("Temporal did not take a batch; will retry")
			return 0, retryDelay(meta.NumDelivered, err), false
		}
	}
	for _, m := range bad {
		out := b.newOutcome(m.it, m.meta)
		b.deadLetter(ctx, m.it, m.meta, b.eventLog(m.it, m.meta, nil), m.it.err, &out)
		if out.Outcome != OutcomeDeadLettered {
			return 0, out.RetryIn, false // EVENTS_DLQ unreachable: all of it again later
		}
		out.SettledAt = time.Now()
		b.metrics.count(b.metricType(m.it.ev.Type()), out.Outcome)
		b.record(out)
	}
	// All but it, which deliverBatch deletes last: until it is gone no other delivery
	// takes this key's batches.
	for _, m := range append(good, bad...) {
		if m.meta.Sequence.Stream != meta.Sequence.Stream {
			b.deleteHeld(ctx, stream, m.meta.Sequence.Stream)
		}
	}
	return next, 0, true
}

// markFailed gives each member the error err, to be dead-lettered with.
func markFailed(ms []member, err error) []member {
	for i := range ms {
		ms[i].it.err = err
	}
	return ms
}

// recordWindowed records and counts the delivery of one event of a batch.
func (b *Bridge) recordWindowed(m member, rr RouteResult, begin time.Time) {
	out := b.newOutcome(m.it, m.meta)
	out.Outcome = OutcomeRouted
	if rr.Result == ResultDuplicate {
		out.Outcome = OutcomeDuplicate
	}
	out.Routes = []RouteResult{rr}
	typ := b.metricType(m.it.ev.Type())
	b.metrics.count(typ, out.Outcome)
	b.metrics.observe(typ, routing.Action(rr.Action), begin)
	out.SettledAt = time.Now()
	b.record(out)
}

// deleteHeld deletes a delivered event from a window's stream. A failure is logged: the
// event would be delivered again in a later batch.
func (b *Bridge) deleteHeld(ctx context.Context, s jetstream.Stream, seq uint64) {
	if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		b.log.Warn().Err(err).Uint64("seq", seq).Msg("Could not delete a delivered event from EVENTS_BATCH; a later batch will carry it again")
	}
}
