package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
)

// Partitioned mode (Config.Partitions, EVENTS_PARTITIONS; events/partitions.go): order
// per workflow id across bridge replicas. The bridge consumer on EVENTS hands out one
// event at a time, in stream order; the bridge that has it routes it (prepare: the
// decisions and so the workflow id), copies it to partition.<p> of EVENTS_PARTITIONS
// (forward) and acks it. A partition's consumer also hands out one event at a time, and
// the bridge that has it acts on it as on any event (handle). So the events of one
// workflow id reach Temporal in the order EVENTS stored them, whichever bridges take
// part and whichever of them dies: the next event of a partition is not delivered before
// the one before it was acked, or redelivered after its bridge died (AckWait).
//
// What it costs: one event in flight per partition, and one on EVENTS, however many
// bridges run; a partition whose event waits for Temporal waits with it (an early signal
// waits in EVENTS_WAITING, not in its partition). docs/ARCHITECTURE.md says why the
// bridge sequences rather than the stream transforming subjects.

// partMsg describes an item that came from EVENTS_PARTITIONS: where its event was
// stored on EVENTS.
type partMsg struct {
	subject string    // events.<type>
	seq     uint64    // its sequence on EVENTS
	since   time.Time // when EVENTS stored it
}

// prepareSequenced is prepare for the bridge consumer in partitioned mode: a routed
// event is forwarded to its partition instead of acted on.
func (b *Bridge) prepareSequenced(msg jetstream.Msg) item {
	it := b.prepare(msg)
	it.forward = it.err == nil && len(it.decisions) > 0
	return it
}

// preparePartitioned makes an item of a message from a partition: its event, routed
// now, on the subject and sequence it has on EVENTS.
func (b *Bridge) preparePartitioned(msg jetstream.Msg) item {
	h := msg.Headers()
	pm := &partMsg{subject: h.Get(headerOriginalSubject)}
	pm.seq, _ = strconv.ParseUint(h.Get(events.HeaderStreamSeq), 10, 64)
	since, err := time.Parse(time.RFC3339Nano, h.Get(headerWaitingSince))
	if err != nil {
		since = time.Now() // not a bridge's copy: give it a full wait rather than none
	}
	pm.since = since
	it := b.prepareOn(msg, pm.subject)
	it.part = pm
	return it
}

// forward copies it, an event of EVENTS, to its partition, then acks it; if the copy
// fails it NAKs it, to be forwarded again after a delay (and nothing after it in the
// meantime: the consumer hands out one event at a time). The copy's Nats-Msg-Id is the
// original's, so an event forwarded again after a crash is stored once.
func (b *Bridge) forward(ctx context.Context, it item) {
	meta, err := it.msg.Metadata()
	if err != nil {
		b.handle(ctx, it) // logs and drops what cannot happen on a consumer
		return
	}
	defer b.settled.Add(1)
	p := events.PartitionOf(it.key, b.cfg.Partitions)
	m := headersOf(it.msg, events.PartitionSubject(p))
	m.Header.Set(headerOriginalSubject, it.msg.Subject())
	m.Header.Set(headerWaitingSince, meta.Timestamp.UTC().Format(time.RFC3339Nano))
	m.Header.Set(events.HeaderStreamSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	id := events.HeaderValue(it.msg.Headers(), events.HeaderMsgID)
	if events.CheckID(id) != nil {
		id = fmt.Sprintf("%s-%d", events.Stream, meta.Sequence.Stream)
	}
	m.Header.Set(events.HeaderMsgID, id)
	m.Data = it.msg.Data()
	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	_, err = b.js.PublishMsg(pctx, m, jetstream.WithExpectStream(events.PartitionStream))
	cancel()
	if err != nil {
		delay := retryDelay(meta.NumDelivered, err)
		b.log.Warn().Err(err).Str(logging.FieldEventID, it.ev.ID()).Int("partition", p).Dur("retry_in", delay).
			Msg("Could not copy the event to its partition; will retry (the events after it wait)")
		b.metrics.forwarded(false)
		b.settle(it, meta, nakWithDelay(delay))
		return
	}
	b.metrics.forwarded(true)
	if e := b.log.Debug(); e != nil {
		e.Str(logging.FieldEventID, it.ev.ID()).Str(logging.FieldWorkflowID, it.key).Int("partition", p).Msg("Forwarded event to its partition")
	}
	b.settle(it, meta, ack)
}

// openPartitions finds EVENTS_PARTITIONS and creates or looks up the consumer of each
// partition. It warns of events left on partitions beyond Partitions (the count was
// lowered before they were routed: nothing reads them until it is raised again).
func (b *Bridge) openPartitions(ctx context.Context) ([]jetstream.Consumer, error) {
	if b.cfg.Partitions == 0 {
		return nil, nil
	}
	s, err := b.js.Stream(ctx, events.PartitionStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("EVENTS_PARTITIONS=%d but stream %s does not exist: run `bridge setup` with it (or let the bridge provision)", b.cfg.Partitions, events.PartitionStream)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", events.PartitionStream, err)
	}
	if info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.PartitionSubjects)); err == nil {
		for subject, n := range info.State.Subjects {
			if p, err := strconv.Atoi(strings.TrimPrefix(subject, events.PartitionPrefix)); err == nil && p >= b.cfg.Partitions && n > 0 {
				b.log.Error().Str(logging.FieldSubject, subject).Uint64("events", n).Int("partitions", b.cfg.Partitions).
					Msg("Events wait on a partition beyond EVENTS_PARTITIONS: run with the count they were made with until they are routed")
			}
		}
	}
	out := make([]jetstream.Consumer, b.cfg.Partitions)
	for p := range out {
		c, err := events.Consumer(ctx, b.js, events.PartitionStream, events.PartitionConsumerConfig(p, b.cfg.AckWait), !b.cfg.LookUpConsumers)
		if err != nil {
			return nil, err
		}
		out[p] = c
	}
	return out, nil
}

// pinned reports whether c hands its messages to one client of events.PartitionGroup at
// a time: the server (2.11 on) took the priority policy.
func pinned(c jetstream.Consumer) bool {
	info := c.CachedInfo()
	return info != nil && info.Config.PriorityPolicy == jetstream.PriorityPolicyPinned
}

// pinState is what a bridge knows of its pin on one pinned consumer.
type pinState struct {
	mu    sync.Mutex
	pin   string    // the pin id of the last message it was delivered ("" before one)
	pause time.Time // no pulls before this: it gave the consumer to another bridge
}

// saw records the pin id of a delivered message; true when it is a new one (this bridge
// has just been given the consumer).
func (ps *pinState) saw(pin string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if pin == "" || pin == ps.pin {
		return false
	}
	ps.pin = pin
	return true
}

func (ps *pinState) holds(pinnedID string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return pinnedID != "" && pinnedID == ps.pin
}

// waitPause waits out a pause set by balance, or until ctx ends.
func (ps *pinState) waitPause(ctx context.Context) {
	ps.mu.Lock()
	d := time.Until(ps.pause)
	ps.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (ps *pinState) pauseFor(d time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.pause = time.Now().Add(d)
}

const (
	// balanceEvery is how often a bridge in partitioned mode looks at how the partitions
	// are spread over the bridges.
	balanceEvery = 5 * time.Second
	// unpinPause is how long a bridge does not pull a partition it gave away, so that a
	// pull of another bridge, not its own, takes the pin.
	unpinPause = 3 * pullWait
)

// balance spreads the partitions over the bridges that pull them. The first bridge to
// pull takes every partition's pin; every balanceEvery each bridge counts the bridges
// pulling (the pulls waiting on a partition's consumer: each bridge keeps one there) and
// the partitions it holds (the consumer's pinned client is the pin of its last delivery),
// and unpins those beyond its share, ceil(P / bridges), pausing its own pulls of them so
// that another bridge's pull is pinned. Order does not rest on it: a partition's consumer
// hands out its next event only after the one before was acked, whoever holds it.
func (b *Bridge) balance(ctx context.Context, parts []jetstream.Consumer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		bridges, held := 1, []int(nil)
		for p, c := range parts {
			info, err := c.Info(ctx)
			if err != nil {
				continue
			}
			bridges = max(bridges, info.NumWaiting)
			for _, g := range info.PriorityGroups {
				if g.Group == events.PartitionGroup && b.pins[info.Name].holds(g.PinnedClientID) {
					held = append(held, p)
				}
			}
		}
		b.metrics.partitionsHeld.Set(float64(len(held)))
		share := (len(parts) + bridges - 1) / bridges
		if len(held) <= share {
			continue
		}
		stream, err := b.js.Stream(ctx, events.PartitionStream)
		if err != nil {
			continue
		}
		for _, p := range held[share:] {
			name := events.PartitionConsumer(p)
			b.pins[name].pauseFor(unpinPause)
			if err := stream.UnpinConsumer(ctx, name, events.PartitionGroup); err != nil {
				b.log.Debug().Err(err).Str("consumer", name).Msg("Could not give a partition to another bridge")
				continue
			}
			b.log.Info().Str("consumer", name).Int("held", len(held)).Int("share", share).Int("bridges", bridges).
				Msg("Gave a partition to another bridge (this one held more than its share)")
		}
	}
}
