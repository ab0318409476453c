package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// A batch holding an id with a NUL byte, invalid UTF-8 in every text and values too
// long to index is written whole: each text is stored safe for PostgreSQL. Before,
// PostgreSQL refused the batch and every other event's record in it was dropped.
func TestBatchWithNULAndInvalidUTF8WritesEveryRecord(t *testing.T) {
	url := testenv.Postgres(t)
	l, _ := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})

	prefix := testenv.ID("ok-")
	const good = 50
	for i := range good {
		l.Record(outcome(fmt.Sprintf("%s-%d", prefix, i), 1, bridge.OutcomeRouted, started(fmt.Sprintf("%s-%d", prefix, i), "run-1")))
	}
	nul := outcome("nul\x00id", 1, bridge.OutcomeDeadLettered)
	nul.Error = "id: contains \x00"
	bad := "bad\xff\xfe"
	utf := outcome("utf8-"+bad, 1, bridge.OutcomeDeadLettered,
		bridge.RouteResult{Route: "r" + bad, Action: "start", WorkflowID: "wf-" + bad + "\x00", RunID: "run" + bad, Result: "failed"})
	utf.EventType, utf.Source, utf.Subject, utf.Error = "t."+bad, "/src/"+bad, "events.t."+bad, "schema: "+bad+"\x00"
	utf.CorrelationID, utf.CausationID = "corr"+bad, "cause\x00"+bad
	utf.Unmatched = []routing.Miss{{Route: "m" + bad, Reason: "data.x == \"" + bad + "\x00\" is false"}}
	long := outcome(strings.Repeat("L", 3000)+testenv.ID(""), 1, bridge.OutcomeDeadLettered)
	long.CausationID = testenv.ID("") + strings.Repeat("c", 8000)
	long.EventType = strings.Repeat("t", 5000) // PostgreSQL indexes none of these whole
	// Invalid bytes in a row, and each NUL, become one U+FFFD.
	for _, o := range []bridge.Outcome{nul, utf, long} {
		l.Record(o)
	}
	stop := run(t, l) // everything recorded waits in the buffer: one batch
	testenv.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written == good+3 }, "not every record was written; the ledger logs why")
	stop()
	for reason, n := range l.Stats().Dropped {
		require.Zero(t, n, "got %d dropped (%s), want none", n, reason)
	}

	q := openStore(t, url).Ledger()
	ctx := context.Background()
	got, err := q.Get(ctx, nul.EventID)
	require.NoError(t, err, "found by the id it was recorded with")
	require.Equal(t, "nul\uFFFDid", got.EventID)
	require.Equal(t, "id: contains \uFFFD", got.Error)

	got, err = q.Get(ctx, utf.EventID)
	require.NoError(t, err)
	require.Equal(t, "utf8-bad\uFFFD", got.EventID)
	require.Equal(t, "/src/bad\uFFFD", got.Source)
	require.Equal(t, "wf-bad\uFFFD\uFFFD", got.WorkflowID)
	require.Equal(t, "wf-bad\uFFFD\uFFFD", got.Routes[0].WorkflowID)
	require.Equal(t, "data.x == \"bad\uFFFD\uFFFD\" is false", got.Unmatched[0].Reason)
	kids, err := q.Children(ctx, utf.CausationID)
	require.NoError(t, err)
	require.Len(t, kids, 1, "found by the causation id it was recorded with")
	require.Equal(t, "utf8-bad\uFFFD", kids[0].EventID)

	got, err = q.Get(ctx, long.EventID)
	require.NoError(t, err)
	require.LessOrEqual(t, len(got.EventID), 1024)
	require.True(t, strings.HasPrefix(got.EventID, "LLLL"))

	for i := range good {
		_, err := q.Get(ctx, fmt.Sprintf("%s-%d", prefix, i))
		require.NoError(t, err)
	}
}

// A record PostgreSQL refuses even on its own costs only itself: the rest of its batch
// is written, and it is counted as rejected. Before, the whole batch was dropped.
func TestRecordRefusedAloneDoesNotCostItsBatch(t *testing.T) {
	url := testenv.Postgres(t)
	st := openStore(t, url) // migrated
	_, err := st.Pool().Exec(context.Background(), `ALTER TABLE ledger_events ADD CONSTRAINT test_refuse_poison CHECK (source <> '/poison')`)
	require.NoError(t, err)
	l, reg := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})

	prefix := testenv.ID("ok-")
	const good = 20
	for i := range good {
		l.Record(outcome(fmt.Sprintf("%s-%d", prefix, i), 1, bridge.OutcomeRouted))
		if i == good/2 {
			poison := outcome("poison", 1, bridge.OutcomeRouted)
			poison.Source = "/poison"
			l.Record(poison)
		}
	}
	stop := run(t, l)
	testenv.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written == good }, "not every other record was written; the ledger logs why")
	stop()
	s := l.Stats()
	require.Equal(t, uint64(1), s.Dropped[ledger.DropRejected], "got %v", s.Dropped)
	require.Zero(t, s.Dropped[ledger.DropWriteFailed], "got %v", s.Dropped)

	var rows int
	require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM ledger_events WHERE event_id LIKE $1 || '-%'`, prefix).Scan(&rows))
	require.Equal(t, good, rows)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var rejected float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "flowbridge_ledger_dropped_total" && m.GetLabel()[0].GetValue() == ledger.DropRejected {
				rejected = m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, 1.0, rejected)
}
