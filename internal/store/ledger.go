package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ledger is the queries of the event ledger (tables ledger_events and ledger_attempts):
// what the bridge did with each event, by event id.
type Ledger struct {
	pool *pgxpool.Pool
}

// Ledger returns the event ledger's queries.
func (s *Store) Ledger() Ledger { return Ledger{pool: s.pool} }

// LedgerRoute is what one route did with an event.
type LedgerRoute struct {
	Route      string `json:"route"`
	Action     string `json:"action"`
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Result     string `json:"result"` // done, duplicate, retry, failed
}

// LedgerMiss is a route that takes the event's type but whose filter did not match it.
type LedgerMiss struct {
	Route  string `json:"route"`
	Reason string `json:"reason"`
}

// LedgerRecord is the outcome of one delivery of an event: what Upsert takes.
type LedgerRecord struct {
	EventID       string // required
	EventType     string
	Source        string
	Subject       string // the NATS subject it arrived on
	CorrelationID string
	CausationID   string
	StreamSeq     uint64
	Delivered     uint64 // JetStream's delivery count: 1 on first delivery
	ReceivedAt    time.Time
	SettledAt     time.Time
	Outcome       string
	Routes        []LedgerRoute
	Unmatched     []LedgerMiss
	Error         string
}

// LedgerEvent is a row of the ledger: everything recorded about one event.
type LedgerEvent struct {
	EventID       string        `json:"id"`
	Type          string        `json:"type"`
	Source        string        `json:"source"`
	Subject       string        `json:"subject"`
	CorrelationID string        `json:"correlation_id,omitempty"`
	CausationID   string        `json:"causation_id,omitempty"`
	ReceivedAt    time.Time     `json:"received_at"` // when the stream first stored it
	SettledAt     time.Time     `json:"settled_at"`  // when the delivery that decided Outcome settled
	Outcome       string        `json:"outcome"`
	Deliveries    int           `json:"deliveries"` // deliveries recorded
	Retries       int           `json:"retries"`    // of which retried
	Routes        []LedgerRoute `json:"routes"`
	Unmatched     []LedgerMiss  `json:"unmatched,omitempty"`
	WorkflowID    string        `json:"workflow_id,omitempty"` // of the first route that names one
	RunID         string        `json:"run_id,omitempty"`
	// Error is the latest error recorded: why the event was dead-lettered, or why it was
	// last retried (kept when a later delivery succeeded).
	Error string `json:"error,omitempty"`
}

// LedgerAttempt is one recorded delivery of an event.
type LedgerAttempt struct {
	StreamSeq uint64    `json:"stream_seq"`
	Delivered uint64    `json:"delivered"`
	Outcome   string    `json:"outcome"`
	Error     string    `json:"error,omitempty"`
	SettledAt time.Time `json:"settled_at"`
}

// LedgerFilter selects ledger rows for List. Zero fields do not filter.
type LedgerFilter struct {
	Type    string    // exact event type
	Outcome string    // the row's outcome (the latest one that counts)
	Since   time.Time // received at or after
	Until   time.Time // received before
	// Limit is the most rows returned, newest first. Optional: defaults to 100.
	Limit int
}

// MaxLedgerChildren bounds the rows Children returns.
const MaxLedgerChildren = 1000

const ledgerColumns = `event_id, event_type, source, subject, coalesce(correlation_id, ''),
	coalesce(causation_id, ''), received_at, settled_at, outcome, deliveries, retries, routes,
	unmatched, coalesce(workflow_id, ''), coalesce(run_id, ''), error`

func scanLedgerEvent(row pgx.Row) (LedgerEvent, error) {
	var e LedgerEvent
	err := row.Scan(&e.EventID, &e.Type, &e.Source, &e.Subject, &e.CorrelationID, &e.CausationID,
		&e.ReceivedAt, &e.SettledAt, &e.Outcome, &e.Deliveries, &e.Retries, &e.Routes, &e.Unmatched,
		&e.WorkflowID, &e.RunID, &e.Error)
	if err != nil {
		return LedgerEvent{}, err
	}
	e.ReceivedAt, e.SettledAt = e.ReceivedAt.UTC(), e.SettledAt.UTC()
	if e.Routes == nil {
		e.Routes = []LedgerRoute{}
	}
	if len(e.Unmatched) == 0 {
		e.Unmatched = nil
	}
	return e, nil
}

// upsertLedger records one delivery per event id (a statement cannot update a row
// twice). A delivery already in ledger_attempts adds nothing to the counts, so writing
// the same records again changes nothing. ledger_supersedes decides whether this
// delivery's outcome replaces the one recorded.
const upsertLedger = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::bigint[], $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[],
		$13::text[], $14::text[], $15::text[], $16::text[])
	AS i(event_id, event_type, source, subject, correlation_id, causation_id, stream_seq, delivered,
		received_at, settled_at, outcome, error, routes, workflow_id, run_id, unmatched)
), fresh AS (
	INSERT INTO ledger_attempts (event_id, stream_seq, delivered, outcome, error, settled_at)
	SELECT event_id, stream_seq, delivered, outcome, error, settled_at FROM input
	ON CONFLICT DO NOTHING
	RETURNING event_id, outcome
)
INSERT INTO ledger_events AS l (event_id, event_type, source, subject, correlation_id, causation_id,
	received_at, settled_at, outcome, deliveries, retries, routes, unmatched, workflow_id, run_id, error, error_at)
SELECT i.event_id, i.event_type, i.source, i.subject, nullif(i.correlation_id, ''), nullif(i.causation_id, ''),
	i.received_at, i.settled_at, i.outcome,
	(f.event_id IS NOT NULL)::int, (f.outcome IS NOT DISTINCT FROM 'retried')::int,
	i.routes::jsonb, i.unmatched::jsonb, nullif(i.workflow_id, ''), nullif(i.run_id, ''),
	i.error, CASE WHEN i.error <> '' THEN i.settled_at END
FROM input i LEFT JOIN fresh f ON f.event_id = i.event_id
ORDER BY i.event_id
ON CONFLICT (event_id) DO UPDATE SET
	received_at = least(l.received_at, EXCLUDED.received_at),
	deliveries  = l.deliveries + EXCLUDED.deliveries,
	retries     = l.retries + EXCLUDED.retries,
	outcome     = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN EXCLUDED.outcome ELSE l.outcome END,
	routes      = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN EXCLUDED.routes ELSE l.routes END,
	unmatched   = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN EXCLUDED.unmatched ELSE l.unmatched END,
	workflow_id = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN coalesce(EXCLUDED.workflow_id, l.workflow_id) ELSE l.workflow_id END,
	run_id      = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN coalesce(EXCLUDED.run_id, l.run_id) ELSE l.run_id END,
	error       = CASE WHEN EXCLUDED.error_at >= coalesce(l.error_at, '-infinity') THEN EXCLUDED.error ELSE l.error END,
	error_at    = greatest(l.error_at, EXCLUDED.error_at),
	settled_at  = CASE WHEN ledger_supersedes(l.outcome, l.settled_at, EXCLUDED.outcome, EXCLUDED.settled_at) THEN EXCLUDED.settled_at ELSE l.settled_at END`

// MaxLedgerKey is the longest event id, type or causation id the ledger stores as it is
// (they are indexed, and PostgreSQL cannot index a value of a few KiB). A longer one is
// stored cut, ending in "…" and 16 hex digits of its SHA-256, so distinct values stay
// distinct; Get and Attempts map the id they are given the same way.
const MaxLedgerKey = 1024

// ledgerText makes s storable as PostgreSQL text: invalid UTF-8 and NUL bytes, which
// PostgreSQL refuses, become U+FFFD.
func ledgerText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ledgerKey is ledgerText bounded to MaxLedgerKey bytes.
func ledgerKey(s string) string {
	s = ledgerText(s)
	if len(s) <= MaxLedgerKey {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := "…" + hex.EncodeToString(sum[:8])
	n := MaxLedgerKey - len(suffix)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + suffix
}

// Upsert records the outcomes of deliveries, in one round trip. It is idempotent:
// recording a delivery (an event id, stream sequence and delivery count) again, in the
// same call or a later one, changes nothing. Per event id it keeps the first
// received_at, counts deliveries and retries, and keeps the outcome, routes, unmatched
// routes and error of the latest delivery — except that a duplicate never replaces a routed. Every record
// needs an EventID.
//
// Every text is stored safe for PostgreSQL (ledgerText; ids, types and causation ids
// also bounded by MaxLedgerKey). The records are written in one transaction: when
// PostgreSQL refuses one, none is written, and the error wraps the *pgconn.PgError
// (IsLedgerRowError says whether writing them one at a time would help).
func (q Ledger) Upsert(ctx context.Context, recs []LedgerRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// Deliveries of one event go to successive statements, in the order they settled.
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b LedgerRecord) int { return a.SettledAt.Compare(b.SettledAt) })
	var stmts []*ledgerColumnsIn
	seen := make(map[string]int, len(sorted))
	for i := range sorted {
		r := &sorted[i]
		if r.EventID == "" {
			return errors.New("record ledger outcomes: a record has no event id")
		}
		key := ledgerKey(r.EventID) // two ids may be stored alike: one statement cannot upsert a row twice
		n := seen[key]
		seen[key] = n + 1
		if n == len(stmts) {
			stmts = append(stmts, newLedgerColumnsIn(len(sorted)))
		}
		if err := stmts[n].add(r); err != nil {
			return fmt.Errorf("record ledger outcome of event %q: %w", r.EventID, err)
		}
	}
	b := &pgx.Batch{}
	for _, c := range stmts {
		b.Queue(upsertLedger, c.eventID, c.eventType, c.source, c.subject, c.correlationID, c.causationID,
			c.streamSeq, c.delivered, c.receivedAt, c.settledAt, c.outcome, c.errText, c.routes, c.workflowID, c.runID, c.unmatched)
	}
	if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record %d ledger outcomes: %w", len(recs), err)
	}
	return nil
}

// ledgerColumnsIn is one statement's input, a column at a time (unnest's arrays).
type ledgerColumnsIn struct {
	eventID, eventType, source, subject, correlationID, causationID []string
	streamSeq, delivered                                            []int64
	receivedAt, settledAt                                           []time.Time
	outcome, errText, routes, workflowID, runID, unmatched          []string
}

func newLedgerColumnsIn(n int) *ledgerColumnsIn {
	s := func() []string { return make([]string, 0, n) }
	return &ledgerColumnsIn{
		eventID: s(), eventType: s(), source: s(), subject: s(), correlationID: s(), causationID: s(),
		streamSeq: make([]int64, 0, n), delivered: make([]int64, 0, n),
		receivedAt: make([]time.Time, 0, n), settledAt: make([]time.Time, 0, n),
		outcome: s(), errText: s(), routes: s(), workflowID: s(), runID: s(), unmatched: s(),
	}
}

func (c *ledgerColumnsIn) add(r *LedgerRecord) error {
	routes := make([]LedgerRoute, len(r.Routes))
	for i, rt := range r.Routes {
		routes[i] = LedgerRoute{Route: ledgerText(rt.Route), Action: ledgerText(rt.Action), WorkflowID: ledgerText(rt.WorkflowID),
			RunID: ledgerText(rt.RunID), Result: ledgerText(rt.Result)}
	}
	rj, err := json.Marshal(routes)
	if err != nil {
		return fmt.Errorf("encode routes: %w", err)
	}
	misses := make([]LedgerMiss, len(r.Unmatched))
	for i, m := range r.Unmatched {
		misses[i] = LedgerMiss{Route: ledgerText(m.Route), Reason: ledgerText(m.Reason)}
	}
	mj, err := json.Marshal(misses)
	if err != nil {
		return fmt.Errorf("encode unmatched routes: %w", err)
	}
	var wf, run string
	for _, rt := range routes {
		if rt.WorkflowID != "" {
			wf, run = rt.WorkflowID, rt.RunID
			break
		}
	}
	c.eventID = append(c.eventID, ledgerKey(r.EventID))
	c.eventType = append(c.eventType, ledgerKey(r.EventType))
	c.source = append(c.source, ledgerText(r.Source))
	c.subject = append(c.subject, ledgerText(r.Subject))
	c.correlationID = append(c.correlationID, ledgerText(r.CorrelationID))
	c.causationID = append(c.causationID, ledgerKey(r.CausationID))
	c.streamSeq = append(c.streamSeq, int64(r.StreamSeq))
	c.delivered = append(c.delivered, int64(r.Delivered))
	c.receivedAt = append(c.receivedAt, r.ReceivedAt)
	c.settledAt = append(c.settledAt, r.SettledAt)
	c.outcome = append(c.outcome, ledgerText(r.Outcome))
	c.errText = append(c.errText, ledgerText(r.Error))
	c.routes = append(c.routes, string(rj))
	c.workflowID = append(c.workflowID, wf)
	c.runID = append(c.runID, run)
	c.unmatched = append(c.unmatched, string(mj))
	return nil
}

// Get returns the ledger row of event id, or an error wrapping ErrNotFound.
func (q Ledger) Get(ctx context.Context, id string) (LedgerEvent, error) {
	e, err := scanLedgerEvent(q.pool.QueryRow(ctx, `SELECT `+ledgerColumns+` FROM ledger_events WHERE event_id = $1`, ledgerKey(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return LedgerEvent{}, fmt.Errorf("event %s in the ledger: %w", id, ErrNotFound)
	}
	if err != nil {
		return LedgerEvent{}, fmt.Errorf("event %s in the ledger: %w", id, err)
	}
	return e, nil
}

// Attempts returns the recorded deliveries of event id, in the order they settled.
func (q Ledger) Attempts(ctx context.Context, id string) ([]LedgerAttempt, error) {
	rows, err := q.pool.Query(ctx, `
		SELECT stream_seq, delivered, outcome, error, settled_at FROM ledger_attempts
		WHERE event_id = $1 ORDER BY settled_at, stream_seq, delivered`, ledgerKey(id))
	if err != nil {
		return nil, fmt.Errorf("deliveries of event %s: %w", id, err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerAttempt, error) {
		var a LedgerAttempt
		var seq, delivered int64
		if err := row.Scan(&seq, &delivered, &a.Outcome, &a.Error, &a.SettledAt); err != nil {
			return a, err
		}
		a.StreamSeq, a.Delivered, a.SettledAt = uint64(seq), uint64(delivered), a.SettledAt.UTC()
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries of event %s: %w", id, err)
	}
	return as, nil
}

// Children returns the rows of the events caused by any of causationIDs (their
// causationid extension names one of them), oldest first, at most MaxLedgerChildren.
func (q Ledger) Children(ctx context.Context, causationIDs ...string) ([]LedgerEvent, error) {
	if len(causationIDs) == 0 {
		return nil, nil
	}
	keys := make([]string, len(causationIDs))
	for i, id := range causationIDs {
		keys[i] = ledgerKey(id)
	}
	rows, err := q.pool.Query(ctx, `SELECT `+ledgerColumns+` FROM ledger_events
		WHERE causation_id = ANY($1) ORDER BY received_at, event_id LIMIT $2`, keys, MaxLedgerChildren)
	if err != nil {
		return nil, fmt.Errorf("events caused by %s: %w", strings.Join(causationIDs, ", "), err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEvent, error) { return scanLedgerEvent(row) })
	if err != nil {
		return nil, fmt.Errorf("events caused by %s: %w", strings.Join(causationIDs, ", "), err)
	}
	return es, nil
}

// List returns the rows f selects, newest first (by received_at).
func (q Ledger) List(ctx context.Context, f LedgerFilter) ([]LedgerEvent, error) {
	var where []string
	var args []any
	cond := func(sql string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(sql, len(args)))
	}
	if f.Type != "" {
		cond("event_type = $%d", ledgerKey(f.Type))
	}
	if f.Outcome != "" {
		cond("outcome = $%d", ledgerText(f.Outcome))
	}
	if !f.Since.IsZero() {
		cond("received_at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		cond("received_at < $%d", f.Until)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	sql := `SELECT ` + ledgerColumns + ` FROM ledger_events`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	sql += fmt.Sprintf(` ORDER BY received_at DESC, event_id LIMIT $%d`, len(args))
	rows, err := q.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list ledger events: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEvent, error) { return scanLedgerEvent(row) })
	if err != nil {
		return nil, fmt.Errorf("list ledger events: %w", err)
	}
	return es, nil
}

// DeleteBefore deletes the rows of events received before t, and their deliveries, at
// most batch rows per statement so that no statement holds many locks for long; rows
// being written at that moment are left for the next call. It returns how many events
// it deleted; on error, those deleted before it.
func (q Ledger) DeleteBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("delete ledger events received before %s: batch %d must be positive", t.Format(time.RFC3339), batch)
	}
	var total int64
	for {
		tag, err := q.pool.Exec(ctx, `
			DELETE FROM ledger_events WHERE event_id IN (
				SELECT event_id FROM ledger_events WHERE received_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, t, batch)
		if err != nil {
			return total, fmt.Errorf("delete ledger events received before %s: %w", t.Format(time.RFC3339), err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

// IsLedgerRowError reports whether err, from Upsert, is PostgreSQL refusing the data of
// a record (a data exception, a constraint, a value too big to index) rather than the
// database being unreachable, busy or missing its tables: then the other records can
// still be written without it.
func IsLedgerRowError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54": // data exception, integrity constraint violation, program limit exceeded
		return true
	}
	return false
}
