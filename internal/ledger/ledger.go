// Package ledger is the event ledger: a record, in PostgreSQL, of what the bridge did with
// every event — received when, routed where, to which workflow run, retried how often,
// dead-lettered why — and of the events each one caused. It answers "where did my event
// go" through GET /events/{id} (Handler) and `bridge events`.
//
// The ledger is off the bridge's critical path. Record only puts the outcome in a bounded
// buffer; one goroutine (Run) writes the buffer to PostgreSQL in batches, one round trip
// each. When the buffer is full, when PostgreSQL cannot be reached, or when a batch cannot
// be written after a few attempts, outcomes are dropped: routing goes on unaffected, and
// the gap is counted in flowbridge_ledger_dropped_total{reason} and logged at most once
// per Config.LogEvery. Every text is made safe for PostgreSQL before it is written (see
// store.Ledger.Upsert), and one record PostgreSQL refuses never costs its batch: the
// batch is then written a record at a time, and only the refused one is dropped, counted
// (reason "rejected") and logged at error level. The ledger is therefore a best-effort account, never a source of
// truth for the bridge; the stream and Temporal are.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/store"
)

var _ bridge.Recorder = (*Ledger)(nil)

// ErrInvalidConfig is wrapped by the errors New returns for a bad Config.
var ErrInvalidConfig = errors.New("invalid ledger configuration")

// Reasons an outcome was dropped: the reason label of flowbridge_ledger_dropped_total.
const (
	DropBufferFull  = "buffer_full"  // the writer is behind: Config.Buffer outcomes wait already
	DropUnavailable = "unavailable"  // the buffer is full and PostgreSQL is down (or not reached yet)
	DropWriteFailed = "write_failed" // its batch failed Config.WriteAttempts times
	DropShutdown    = "shutdown"     // still held when Run's drain ended, or recorded after it
	DropNoEventID   = "no_event_id"  // the event could not be decoded; its dead letter is on EVENTS_DLQ
	DropRejected    = "rejected"     // PostgreSQL refused its record even on its own (logged with the event id)
)

var dropReasons = [...]string{DropBufferFull, DropUnavailable, DropWriteFailed, DropShutdown, DropNoEventID, DropRejected}

type reason int

const (
	reasonBufferFull reason = iota
	reasonUnavailable
	reasonWriteFailed
	reasonShutdown
	reasonNoEventID
	reasonRejected
)

// Config tunes a Ledger. Zero fields take the defaults noted.
type Config struct {
	// Buffer is how many outcomes may wait for the writer; Record drops beyond it.
	// Optional: defaults to 10000.
	Buffer int
	// BufferBytes bounds the memory those outcomes take (their text, estimated): a burst
	// of outcomes with long errors or many routes drops rather than grows the process.
	// Optional: defaults to 16 MiB.
	BufferBytes int
	// BatchSize is the most outcomes written in one round trip. Optional: defaults to 500.
	BatchSize int
	// FlushInterval is the longest an outcome waits for its batch to fill.
	// Optional: defaults to 250ms.
	FlushInterval time.Duration
	// WriteAttempts is how many times a batch is tried, with backoff, before it is
	// dropped. Optional: defaults to 4.
	WriteAttempts int
	// WriteTimeout bounds each attempt. Optional: defaults to 5s.
	WriteTimeout time.Duration
	// Retention is how long rows are kept, counted from when the stream received the
	// event. Optional: defaults to 7 days; negative keeps rows for ever.
	Retention time.Duration
	// RetentionInterval is how often rows older than Retention are deleted.
	// Optional: defaults to 10m.
	RetentionInterval time.Duration
	// DeleteBatch is the most rows one DELETE statement removes. Optional: defaults to 5000.
	DeleteBatch int
	// DrainTimeout bounds writing what the ledger holds once Run's ctx ends.
	// Optional: defaults to 5s.
	DrainTimeout time.Duration
	// LogEvery is the shortest interval between two log lines about dropped outcomes or
	// an unreachable PostgreSQL. Optional: defaults to 30s.
	LogEvery time.Duration
}

func (c *Config) defaults() error {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	defInt(&c.Buffer, 10000)
	defInt(&c.BufferBytes, 16<<20)
	defInt(&c.BatchSize, 500)
	defInt(&c.WriteAttempts, 4)
	defInt(&c.DeleteBatch, 5000)
	def(&c.FlushInterval, 250*time.Millisecond)
	def(&c.WriteTimeout, 5*time.Second)
	def(&c.Retention, 7*24*time.Hour)
	def(&c.RetentionInterval, 10*time.Minute)
	def(&c.DrainTimeout, 5*time.Second)
	def(&c.LogEvery, 30*time.Second)
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"Buffer", c.Buffer}, {"BufferBytes", c.BufferBytes}, {"BatchSize", c.BatchSize}, {"WriteAttempts", c.WriteAttempts}, {"DeleteBatch", c.DeleteBatch}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %d must be positive", ErrInvalidConfig, f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"FlushInterval", c.FlushInterval}, {"WriteTimeout", c.WriteTimeout}, {"RetentionInterval", c.RetentionInterval},
		{"DrainTimeout", c.DrainTimeout}, {"LogEvery", c.LogEvery}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %s must be positive", ErrInvalidConfig, f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// OpenFunc opens the ledger's database; store.Open is one, with the URL bound.
type OpenFunc func(ctx context.Context) (*store.Store, error)

// Ledger records the outcome of every delivery in PostgreSQL. It is a bridge.Recorder.
type Ledger struct {
	cfg  Config
	open OpenFunc
	log  zerolog.Logger
	in   chan bridge.Outcome
	// queued is the estimated size of the outcomes in `in` (outcomeSize).
	queued atomic.Int64

	started atomic.Bool
	closed  atomic.Bool // Run has drained: Record drops
	up      atomic.Bool // the store is open and the last write succeeded
	store   atomic.Pointer[store.Store]

	written atomic.Uint64
	deleted atomic.Uint64
	dropped [len(dropReasons)]atomic.Uint64

	// Owned by Run's goroutine.
	lastErr    error
	lastLog    time.Time
	drainBy    time.Time
	loggedDrop [len(dropReasons)]uint64
	recs       []store.LedgerRecord
}

// New returns a ledger that will write through the store open returns. It does not call
// open: Run does, and keeps trying while PostgreSQL is unreachable, so a ledger never
// stops the bridge from starting. Run owns the store and closes it when it returns. The
// ledger's metrics are registered with reg (nil: not registered); registering two
// ledgers with one registry fails.
func New(open OpenFunc, reg prometheus.Registerer, log zerolog.Logger, cfg Config) (*Ledger, error) {
	if open == nil {
		return nil, fmt.Errorf("%w: an open function is required", ErrInvalidConfig)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	l := &Ledger{cfg: cfg, open: open, log: log.With().Str("component", "ledger").Logger(), in: make(chan bridge.Outcome, cfg.Buffer)}
	if err := metrics.Register(reg, newCollector(l)); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return l, nil
}

// Record queues the outcome of one delivery for writing. It never blocks: when the
// buffer is full the outcome is dropped and counted. Safe for concurrent use.
func (l *Ledger) Record(o bridge.Outcome) {
	switch {
	case o.EventID == "":
		l.drop(reasonNoEventID, 1)
		return
	case l.closed.Load():
		l.drop(reasonShutdown, 1)
		return
	}
	size := outcomeSize(&o)
	if l.queued.Add(size) > int64(l.cfg.BufferBytes) {
		l.queued.Add(-size)
		l.drop(reasonBufferFull, 1)
		return
	}
	select {
	case l.in <- o:
	default:
		l.queued.Add(-size)
		if l.up.Load() {
			l.drop(reasonBufferFull, 1)
		} else {
			l.drop(reasonUnavailable, 1)
		}
	}
}

func (l *Ledger) drop(r reason, n int) {
	if n > 0 {
		l.dropped[r].Add(uint64(n))
	}
}

// Stats are the ledger's counts since New.
type Stats struct {
	Written  uint64            // outcomes written to PostgreSQL
	Dropped  map[string]uint64 // outcomes dropped, by reason (the Drop* constants)
	Deleted  uint64            // rows deleted after the retention period
	Buffered int               // outcomes waiting to be written
}

// Stats returns the ledger's counts, as its metrics report them.
func (l *Ledger) Stats() Stats {
	s := Stats{Written: l.written.Load(), Deleted: l.deleted.Load(), Buffered: len(l.in), Dropped: make(map[string]uint64, len(dropReasons))}
	for i, name := range dropReasons {
		s.Dropped[name] = l.dropped[i].Load()
	}
	return s
}

// Run opens the store (retrying while PostgreSQL is unreachable), then writes what Record
// queues, in batches, and deletes rows past the retention period, until ctx ends. It
// then writes what it still holds — opening the store once more if it never could — for
// at most Config.DrainTimeout, closes the store and returns. So that nothing recorded is
// left behind, end ctx only once the bridge has stopped recording. Run returns an error
// only when called twice: the ledger's own failures never end it.
func (l *Ledger) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("ledger: Run called twice")
	}
	st := l.connect(ctx)
	if st == nil && len(l.in) > 0 { // ctx ended first: one more try for what is held
		dctx, cancel := l.drainContext(ctx)
		st, _ = l.open(dctx)
		cancel()
	}
	if st == nil {
		l.closed.Store(true)
		l.drop(reasonUnavailable, l.discard())
		l.logGaps(true)
		return nil
	}
	l.store.Store(st)
	l.up.Store(true)
	var wg sync.WaitGroup
	if l.cfg.Retention > 0 {
		wg.Go(func() { l.retain(ctx, st.Ledger()) })
	}
	l.write(ctx, st.Ledger())
	wg.Wait()
	l.up.Store(false)
	l.store.Store(nil)
	st.Close()
	return nil
}

// connect calls open until it succeeds, backing off from 500ms to 30s. It returns nil if
// ctx ends first.
func (l *Ledger) connect(ctx context.Context) *store.Store {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, err := l.open(octx)
		cancel()
		if err == nil {
			if attempt > 1 {
				l.log.Info().Int("attempts", attempt).Msg("Event ledger reached PostgreSQL; recording outcomes again")
			}
			return st
		}
		if ctx.Err() != nil {
			return nil
		}
		l.lastErr = fmt.Errorf("open the ledger's database: %w", err)
		if attempt == 1 {
			l.log.Warn().Err(l.lastErr).Msg("Event ledger cannot reach PostgreSQL; routing goes on, outcomes wait in memory and are dropped (and counted) when it fills")
			l.lastLog = time.Now()
		}
		l.logGaps(false)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// outcomeSize estimates the memory o holds: its strings, routes and misses, and a fixed
// part for the rest of the struct.
func outcomeSize(o *bridge.Outcome) int64 {
	n := 256 + len(o.EventID) + len(o.EventType) + len(o.Source) + len(o.Subject) + len(o.CorrelationID) +
		len(o.CausationID) + len(o.Outcome) + len(o.Error)
	for _, r := range o.Routes {
		n += 96 + len(r.Route) + len(r.Action) + len(r.WorkflowID) + len(r.RunID) + len(r.Result)
	}
	for _, m := range o.Unmatched {
		n += 64 + len(m.Route) + len(m.Reason)
	}
	return int64(n)
}

// write batches what Record queues until ctx ends, then drains.
func (l *Ledger) write(ctx context.Context, q store.Ledger) {
	tick := time.NewTicker(l.cfg.FlushInterval)
	defer tick.Stop()
	batch := make([]bridge.Outcome, 0, l.cfg.BatchSize)
	for {
		select {
		case o := <-l.in:
			l.queued.Add(-outcomeSize(&o))
			batch = l.fill(append(batch, o))
			if len(batch) < l.cfg.BatchSize {
				continue
			}
		case <-tick.C:
			l.logGaps(false)
			if len(batch) == 0 {
				continue
			}
		case <-ctx.Done():
			l.drain(ctx, q, batch)
			return
		}
		if rest, err := l.flush(ctx, q, batch); err != nil {
			if ctx.Err() != nil { // shutting down: the drain tries once more
				l.drain(ctx, q, rest)
				return
			}
			l.up.Store(false)
			l.drop(reasonWriteFailed, len(rest))
		}
		batch = batch[:0]
	}
}

// fill moves queued outcomes into batch, without waiting, up to BatchSize.
func (l *Ledger) fill(batch []bridge.Outcome) []bridge.Outcome {
	for len(batch) < l.cfg.BatchSize {
		select {
		case o := <-l.in:
			l.queued.Add(-outcomeSize(&o))
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// discard empties the buffer and returns how many outcomes it held.
func (l *Ledger) discard() int {
	n := 0
	for {
		select {
		case o := <-l.in:
			l.queued.Add(-outcomeSize(&o))
			n++
		default:
			return n
		}
	}
}

// flush writes batch, trying up to WriteAttempts times with backoff while ctx lasts,
// and returns what it could not write. The upsert is idempotent, so an attempt that
// committed but seemed to fail is harmless. When PostgreSQL refuses the data of the
// batch, it is written a record at a time instead (flushRows).
func (l *Ledger) flush(ctx context.Context, q store.Ledger, batch []bridge.Outcome) ([]bridge.Outcome, error) {
	l.recs = l.recs[:0]
	for i := range batch {
		l.recs = append(l.recs, toRecord(&batch[i]))
	}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err := q.Upsert(wctx, l.recs)
		cancel()
		if err == nil {
			l.written.Add(uint64(len(batch)))
			if !l.up.Swap(true) {
				l.log.Info().Msg("Event ledger writes to PostgreSQL again")
			}
			return nil, nil
		}
		l.lastErr = err
		if store.IsLedgerRowError(err) {
			return l.flushRows(ctx, q, batch)
		}
		if attempt >= l.cfg.WriteAttempts {
			return batch, err
		}
		select {
		case <-ctx.Done():
			return batch, err
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// flushRows writes the batch whose records flush prepared one record at a time, after
// PostgreSQL refused it whole: a record it refuses on its own is dropped, counted and
// logged, and the others are written. It stops at an error that is not about a record
// (the database went away) and returns what it did not write.
func (l *Ledger) flushRows(ctx context.Context, q store.Ledger, batch []bridge.Outcome) ([]bridge.Outcome, error) {
	var written uint64
	defer func() { l.written.Add(written) }()
	for i := range batch {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
		err := q.Upsert(wctx, l.recs[i:i+1])
		cancel()
		switch {
		case err == nil:
			written++
		case store.IsLedgerRowError(err):
			l.drop(reasonRejected, 1)
			o := &batch[i]
			l.log.Error().Err(err).Str(logging.FieldEventID, o.EventID).Str(logging.FieldEventType, o.EventType).
				Uint64("stream_seq", o.StreamSeq).Uint64("delivered", o.Delivered).Str("outcome", o.Outcome).
				Msg("PostgreSQL refused this delivery's ledger record; it is dropped (flowbridge_ledger_dropped_total{reason=\"rejected\"}) and the rest of its batch is written")
		default:
			l.lastErr = err
			return batch[i:], err
		}
	}
	return nil, nil
}

// drain writes batch and everything queued, for at most DrainTimeout; what it cannot
// write is dropped. Record drops from then on.
func (l *Ledger) drain(ctx context.Context, q store.Ledger, batch []bridge.Outcome) {
	dctx, cancel := l.drainContext(ctx)
	defer cancel()
	for {
		batch = l.fill(batch)
		if len(batch) == 0 {
			break
		}
		if rest, err := l.flush(dctx, q, batch); err != nil {
			l.drop(reasonShutdown, len(rest))
			break
		}
		batch = batch[:0]
	}
	l.closed.Store(true)
	l.drop(reasonShutdown, l.discard())
	l.logGaps(true)
}

// drainContext bounds the work done after ctx ended: DrainTimeout from the first call.
func (l *Ledger) drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.drainBy.IsZero() {
		l.drainBy = time.Now().Add(l.cfg.DrainTimeout)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), l.drainBy)
}

// logGaps logs what was dropped since it last did, at most once per LogEvery unless
// final. It runs on Run's goroutine only.
func (l *Ledger) logGaps(final bool) {
	if !final && time.Since(l.lastLog) < l.cfg.LogEvery {
		return
	}
	var total uint64
	ev := zerolog.Dict()
	for i, name := range dropReasons {
		now := l.dropped[i].Load()
		if d := now - l.loggedDrop[i]; d > 0 {
			ev.Uint64(name, d)
			total += d
		}
		l.loggedDrop[i] = now
	}
	if total == 0 {
		return
	}
	l.lastLog = time.Now()
	l.log.Warn().Err(l.lastErr).Uint64("dropped", total).Dict("by_reason", ev).
		Msg("Event ledger dropped outcomes (routing is unaffected); the ledger has a gap, counted in flowbridge_ledger_dropped_total")
}

// retain deletes rows older than Retention now and every RetentionInterval.
func (l *Ledger) retain(ctx context.Context, q store.Ledger) {
	tick := time.NewTicker(l.cfg.RetentionInterval)
	defer tick.Stop()
	for {
		n, err := q.DeleteBefore(ctx, time.Now().Add(-l.cfg.Retention), l.cfg.DeleteBatch)
		l.deleted.Add(uint64(n))
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Warn().Err(err).Dur("retry_in", l.cfg.RetentionInterval).Msg("Event ledger could not delete rows past the retention period")
		case n > 0:
			l.log.Debug().Int64("deleted", n).Dur("retention", l.cfg.Retention).Msg("Event ledger deleted old rows")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func toRecord(o *bridge.Outcome) store.LedgerRecord {
	r := store.LedgerRecord{
		EventID: o.EventID, EventType: o.EventType, Source: o.Source, Subject: o.Subject,
		CorrelationID: o.CorrelationID, CausationID: o.CausationID,
		StreamSeq: o.StreamSeq, Delivered: o.Delivered,
		ReceivedAt: o.ReceivedAt, SettledAt: o.SettledAt,
		Outcome: o.Outcome, Error: o.Error,
	}
	if r.SettledAt.IsZero() {
		r.SettledAt = time.Now()
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = r.SettledAt
	}
	if len(o.Routes) > 0 {
		r.Routes = make([]store.LedgerRoute, len(o.Routes))
		for i, rt := range o.Routes {
			r.Routes[i] = store.LedgerRoute{Route: rt.Route, Action: rt.Action, WorkflowID: rt.WorkflowID, RunID: rt.RunID, Result: rt.Result}
		}
	}
	if len(o.Unmatched) > 0 {
		r.Unmatched = make([]store.LedgerMiss, len(o.Unmatched))
		for i, m := range o.Unmatched {
			r.Unmatched[i] = store.LedgerMiss{Route: m.Route, Reason: m.Reason}
		}
	}
	return r
}
