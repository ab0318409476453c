package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

var ledgerT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ledgerDelivery is delivery n of event id (stream sequence seq), settled n seconds after ledgerT0.
func ledgerDelivery(id string, seq, n uint64, outcome, errText string, routes ...store.LedgerRoute) store.LedgerRecord {
	return store.LedgerRecord{
		EventID: id, EventType: "user.signedup", Source: "/signup", Subject: "events.user.signedup",
		CorrelationID: id, StreamSeq: seq, Delivered: n,
		ReceivedAt: ledgerT0, SettledAt: ledgerT0.Add(time.Duration(n) * time.Second),
		Outcome: outcome, Error: errText, Routes: routes,
	}
}

func ledgerRoute(result, runID string) store.LedgerRoute {
	return store.LedgerRoute{Route: "onboarding", Action: "start", WorkflowID: "onboarding-u1", RunID: runID, Result: result}
}

func TestLedgerUpsertCountsEachDeliveryOnce(t *testing.T) {
	retried1 := ledgerDelivery("e1", 7, 1, "retried", "temporal unavailable", ledgerRoute("retry", ""))
	retried2 := ledgerDelivery("e1", 7, 2, "retried", "temporal slow down", ledgerRoute("retry", ""))
	routed := ledgerDelivery("e1", 7, 3, "routed", "", ledgerRoute("done", "run-1"))
	tests := []struct {
		name    string
		batches [][]store.LedgerRecord
	}{
		{name: "one batch", batches: [][]store.LedgerRecord{{retried1, retried2, routed}}},
		{name: "one batch out of order", batches: [][]store.LedgerRecord{{routed, retried1, retried2}}},
		{name: "a batch per delivery", batches: [][]store.LedgerRecord{{retried1}, {retried2}, {routed}}},
		{name: "batches out of order", batches: [][]store.LedgerRecord{{routed}, {retried2}, {retried1}}},
		{name: "a delivery repeated in its batch", batches: [][]store.LedgerRecord{{retried1, retried1, retried2, routed, routed}}},
		{name: "batches written twice", batches: [][]store.LedgerRecord{{retried1, retried2}, {retried1, retried2}, {routed}, {routed}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
			ctx := context.Background()
			for _, b := range tt.batches {
				require.NoError(t, q.Upsert(ctx, b))
			}
			got, err := q.Get(ctx, "e1")
			require.NoError(t, err)
			want := store.LedgerEvent{
				EventID: "e1", Type: "user.signedup", Source: "/signup", Subject: "events.user.signedup",
				CorrelationID: "e1", ReceivedAt: ledgerT0, SettledAt: routed.SettledAt, Outcome: "routed",
				Deliveries: 3, Retries: 2, Routes: []store.LedgerRoute{ledgerRoute("done", "run-1")},
				WorkflowID: "onboarding-u1", RunID: "run-1", Error: "temporal slow down",
			}
			require.Equal(t, want, got)

			attempts, err := q.Attempts(ctx, "e1")
			require.NoError(t, err)
			require.Len(t, attempts, 3)
			for i, a := range attempts {
				require.Equal(t, uint64(i+1), a.Delivered, "got delivery %v at %d, want %d", a.Delivered, i, i+1)
			}
			require.Equal(t, "temporal unavailable", attempts[0].Error)
		})
	}
}

func TestLedgerUpsertOutcome(t *testing.T) {
	tests := []struct {
		name        string
		batches     [][]store.LedgerRecord
		wantOutcome string
		wantRunID   string
		wantError   string
		wantRecv    time.Time
	}{
		{
			name: "a duplicate redelivery does not hide the routing",
			batches: [][]store.LedgerRecord{
				{ledgerDelivery("e1", 7, 1, "routed", "", ledgerRoute("done", "run-1"))},
				{ledgerDelivery("e1", 7, 2, "duplicate", "", ledgerRoute("duplicate", ""))},
			},
			wantOutcome: "routed", wantRunID: "run-1", wantRecv: ledgerT0,
		},
		{
			name: "a routing recorded after a later duplicate wins",
			batches: [][]store.LedgerRecord{
				{ledgerDelivery("e1", 7, 2, "duplicate", "", ledgerRoute("duplicate", ""))},
				{ledgerDelivery("e1", 7, 1, "routed", "", ledgerRoute("done", "run-1"))},
			},
			wantOutcome: "routed", wantRunID: "run-1", wantRecv: ledgerT0,
		},
		{
			name: "retried then dead-lettered keeps the reason",
			batches: [][]store.LedgerRecord{{
				ledgerDelivery("e1", 7, 1, "retried", "workflow onboarding-u1 not found", ledgerRoute("retry", "")),
				ledgerDelivery("e1", 7, 2, "dead_lettered", "signal: waited too long", ledgerRoute("failed", "")),
			}},
			wantOutcome: "dead_lettered", wantError: "signal: waited too long", wantRecv: ledgerT0,
		},
		{
			name: "the first received_at is kept when the event is published again",
			batches: [][]store.LedgerRecord{
				{func() store.LedgerRecord {
					r := ledgerDelivery("e1", 9, 1, "duplicate", "", ledgerRoute("duplicate", ""))
					r.ReceivedAt = ledgerT0.Add(time.Hour)
					r.SettledAt = ledgerT0.Add(time.Hour)
					return r
				}()},
				{ledgerDelivery("e1", 7, 1, "routed", "", ledgerRoute("done", "run-1"))},
			},
			wantOutcome: "routed", wantRunID: "run-1", wantRecv: ledgerT0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
			ctx := context.Background()
			for _, b := range tt.batches {
				require.NoError(t, q.Upsert(ctx, b))
			}
			got, err := q.Get(ctx, "e1")
			require.NoError(t, err)
			require.Equal(t, tt.wantOutcome, got.Outcome)
			require.Equal(t, tt.wantRunID, got.RunID)
			require.Equal(t, tt.wantError, got.Error)
			require.Equal(t, tt.wantRecv, got.ReceivedAt)
			require.Equal(t, 2, got.Deliveries)
		})
	}
}

func TestLedgerUnmatchedRoutes(t *testing.T) {
	q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
	ctx := context.Background()
	r := ledgerDelivery("e1", 1, 1, "ignored", "")
	r.Unmatched = []store.LedgerMiss{{Route: "deploy-main", Reason: `ref == "refs/heads/main" is false`}}
	require.NoError(t, q.Upsert(ctx, []store.LedgerRecord{r, ledgerDelivery("e2", 1, 1, "ignored", "")}))
	got, err := q.Get(ctx, "e1")
	require.NoError(t, err)
	require.Equal(t, r.Unmatched, got.Unmatched)
	got, err = q.Get(ctx, "e2")
	require.NoError(t, err)
	require.Nil(t, got.Unmatched)
}

func TestLedgerUpsertRejectsRecordWithoutID(t *testing.T) {
	q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
	err := q.Upsert(context.Background(), []store.LedgerRecord{ledgerDelivery("", 1, 1, "ignored", "")})
	require.ErrorContains(t, err, "no event id")
}

func TestLedgerGetUnknown(t *testing.T) {
	q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
	_, err := q.Get(context.Background(), "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestLedgerChildren(t *testing.T) {
	q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
	ctx := context.Background()
	child := func(id, cause string, at time.Duration) store.LedgerRecord {
		r := ledgerDelivery(id, 1, 1, "ignored", "")
		r.CausationID, r.CorrelationID = cause, "e1"
		r.ReceivedAt = ledgerT0.Add(at)
		return r
	}
	require.NoError(t, q.Upsert(ctx, []store.LedgerRecord{
		ledgerDelivery("e1", 1, 1, "routed", "", ledgerRoute("done", "run-1")),
		child("w/b", "e1", 2*time.Second),
		child("w/a", "e1", time.Second),
		child("w/a/x", "w/a", 3*time.Second),
		child("other", "e9", time.Second),
	}))
	tests := []struct {
		name   string
		causes []string
		want   []string
	}{
		{name: "one cause, oldest first", causes: []string{"e1"}, want: []string{"w/a", "w/b"}},
		{name: "several causes", causes: []string{"w/a", "e9"}, want: []string{"other", "w/a/x"}},
		{name: "a leaf", causes: []string{"w/a/x"}, want: nil},
		{name: "no cause", causes: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := q.Children(ctx, tt.causes...)
			require.NoError(t, err)
			require.Equal(t, tt.want, ledgerIDs(got))
		})
	}
}

func ledgerIDs(es []store.LedgerEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.EventID)
	}
	return out
}

func TestLedgerList(t *testing.T) {
	q := mustOpenStore(t, testenv.Postgres(t)).Ledger()
	ctx := context.Background()
	rec := func(id, typ, outcome string, at time.Duration) store.LedgerRecord {
		r := ledgerDelivery(id, 1, 1, outcome, "")
		r.EventType, r.ReceivedAt = typ, ledgerT0.Add(at)
		return r
	}
	require.NoError(t, q.Upsert(ctx, []store.LedgerRecord{
		rec("a", "user.signedup", "routed", 0),
		rec("b", "user.signedup", "dead_lettered", time.Minute),
		rec("c", "stripe.paid", "routed", 2*time.Minute),
		rec("d", "tenant.created", "ignored", 3*time.Minute),
	}))
	tests := []struct {
		name   string
		filter store.LedgerFilter
		want   []string
	}{
		{name: "everything, newest first", want: []string{"d", "c", "b", "a"}},
		{name: "by type", filter: store.LedgerFilter{Type: "user.signedup"}, want: []string{"b", "a"}},
		{name: "by outcome", filter: store.LedgerFilter{Outcome: "routed"}, want: []string{"c", "a"}},
		{name: "type and outcome", filter: store.LedgerFilter{Type: "user.signedup", Outcome: "routed"}, want: []string{"a"}},
		{name: "since is inclusive", filter: store.LedgerFilter{Since: ledgerT0.Add(2 * time.Minute)}, want: []string{"d", "c"}},
		{name: "until is exclusive", filter: store.LedgerFilter{Until: ledgerT0.Add(time.Minute)}, want: []string{"a"}},
		{name: "a window", filter: store.LedgerFilter{Since: ledgerT0.Add(time.Minute), Until: ledgerT0.Add(3 * time.Minute)}, want: []string{"c", "b"}},
		{name: "limit", filter: store.LedgerFilter{Limit: 2}, want: []string{"d", "c"}},
		{name: "nothing matches", filter: store.LedgerFilter{Type: "nope"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := q.List(ctx, tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, ledgerIDs(got))
		})
	}
}

func TestLedgerDeleteBefore(t *testing.T) {
	st := mustOpenStore(t, testenv.Postgres(t))
	q := st.Ledger()
	ctx := context.Background()
	var recs []store.LedgerRecord
	for i := range 25 {
		r := ledgerDelivery(testenv.ID("old-"), 1, 1, "retried", "x")
		r.ReceivedAt = ledgerT0.Add(-time.Duration(i+1) * time.Hour)
		recs = append(recs, r)
	}
	keep := ledgerDelivery("new", 1, 1, "routed", "", ledgerRoute("done", "run-1"))
	recs = append(recs, keep)
	require.NoError(t, q.Upsert(ctx, recs))

	n, err := q.DeleteBefore(ctx, ledgerT0, 10)
	require.NoError(t, err)
	require.Equal(t, int64(25), n)
	var events, attempts int
	require.NoError(t, st.Pool().QueryRow(ctx, "SELECT count(*) FROM ledger_events").Scan(&events))
	require.NoError(t, st.Pool().QueryRow(ctx, "SELECT count(*) FROM ledger_attempts").Scan(&attempts))
	require.Equal(t, 1, events, "got %v events, want only the one received at the cut-off", events)
	require.Equal(t, 1, attempts, "got %v attempts, want the deleted events' gone with them", attempts)
	_, err = q.Get(ctx, "new")
	require.NoError(t, err)

	n, err = q.DeleteBefore(ctx, ledgerT0, 10)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to delete")
	_, err = q.DeleteBefore(ctx, ledgerT0, 0)
	require.ErrorContains(t, err, "must be positive")
}
