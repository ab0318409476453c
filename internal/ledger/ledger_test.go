package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// opener opens the store at url, as the bridge's wiring does.
func opener(url string) ledger.OpenFunc {
	return func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, url) }
}

// openStore opens the test's own view of the ledger's database.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func newLedger(t *testing.T, open ledger.OpenFunc, cfg ledger.Config) (*ledger.Ledger, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := ledger.New(open, reg, testenv.Logger(t), cfg)
	require.NoError(t, err)
	return l, reg
}

// run runs l until the returned stop is called (or the test ends); stop waits for Run.
func run(t *testing.T, l *ledger.Ledger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

var start = time.Now().UTC().Truncate(time.Millisecond)

// outcome is delivery n of event id with outcome, settled n milliseconds after start.
func outcome(id string, n uint64, result string, routes ...bridge.RouteResult) bridge.Outcome {
	o := bridge.Outcome{
		EventID: id, EventType: "user.signedup", Source: "/signup", Subject: "events.user.signedup",
		CorrelationID: id, StreamSeq: 1, Delivered: n,
		ReceivedAt: start, SettledAt: start.Add(time.Duration(n) * time.Millisecond),
		Outcome: result, Routes: routes,
	}
	if result == bridge.OutcomeRetried {
		o.Error = "start UserOnboarding onboarding-" + id + ": unavailable"
	}
	return o
}

func started(id, runID string) bridge.RouteResult {
	return bridge.RouteResult{Route: "user-onboarding", Action: "start", WorkflowID: "onboarding-" + id, RunID: runID, Result: "done"}
}

// caused is a result event of workflow wf caused by event cause.
func caused(wf, typ, cause string) bridge.Outcome {
	o := outcome(wf+"/"+typ, 1, bridge.OutcomeIgnored)
	o.EventType, o.Source, o.Subject = typ, "/flowbridge/worker", "events."+typ
	o.CausationID, o.CorrelationID = cause, "corr-1"
	return o
}

func TestRecordConcurrentlyThenDrain(t *testing.T) {
	url := testenv.Postgres(t)
	const writers, perWriter = 16, 200
	l, _ := newLedger(t, opener(url), ledger.Config{Buffer: 2*writers*perWriter + 1})

	early := outcome(testenv.ID("early-"), 1, bridge.OutcomeIgnored)
	early.Unmatched = []routing.Miss{{Route: "user-onboarding", Reason: "data.plan == \"pro\" is false"}}
	l.Record(early) // before Run: it waits in the buffer
	stop := run(t, l)
	prefix := testenv.ID("ev")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				l.Record(outcome(id, 1, bridge.OutcomeRetried, bridge.RouteResult{Route: "user-onboarding", Action: "start", Result: "retry"}))
				l.Record(outcome(id, 2, bridge.OutcomeRouted, started(id, "run-"+id)))
			}
		})
	}
	wg.Wait()
	stop() // Run drains what it holds

	s := l.Stats()
	require.Equal(t, uint64(2*writers*perWriter+1), s.Written, "got %v written, want every outcome", s.Written)
	for reason, n := range s.Dropped {
		require.Zero(t, n, "got %d dropped (%s), want none", n, reason)
	}
	st := openStore(t, url)
	var events, routed, retries, deliveries int
	require.NoError(t, st.Pool().QueryRow(context.Background(), `
		SELECT count(*), count(*) FILTER (WHERE outcome = 'routed' AND run_id = 'run-' || event_id), sum(retries), sum(deliveries)
		FROM ledger_events WHERE event_id LIKE $1 || '-%'`, prefix).Scan(&events, &routed, &retries, &deliveries))
	require.Equal(t, writers*perWriter, events)
	require.Equal(t, writers*perWriter, routed, "got %d routed with their run id, want all", routed)
	require.Equal(t, writers*perWriter, retries)
	require.Equal(t, 2*writers*perWriter, deliveries)
	got, err := st.Ledger().Get(context.Background(), early.EventID)
	require.NoError(t, err, "an outcome recorded before Run is written")
	require.Equal(t, []store.LedgerMiss{{Route: "user-onboarding", Reason: `data.plan == "pro" is false`}}, got.Unmatched)

	l.Record(outcome("late", 1, bridge.OutcomeRouted))
	require.Equal(t, uint64(1), l.Stats().Dropped[ledger.DropShutdown], "an outcome recorded after Run returned is counted")
}

func TestUnreachableDatabase(t *testing.T) {
	tests := []struct {
		name string
		open ledger.OpenFunc
	}{
		{name: "open fails", open: func(context.Context) (*store.Store, error) { return nil, errors.New("no database today") }},
		{name: "nothing listens", open: opener("postgres://postgres@127.0.0.1:1/flowbridge?sslmode=disable&connect_timeout=2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const buffer, records = 16, 2000
			l, _ := newLedger(t, tt.open, ledger.Config{Buffer: buffer})
			stop := run(t, l)

			done := make(chan struct{})
			go func() {
				defer close(done)
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Go(func() {
						for i := range records / 8 {
							l.Record(outcome(fmt.Sprintf("e-%d-%d", w, i), 1, bridge.OutcomeRouted))
						}
					})
				}
				wg.Wait()
			}()
			testenv.Eventually(t, 10*time.Second, func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			}, "Record blocked while PostgreSQL is unreachable")
			s := l.Stats()
			require.Equal(t, uint64(records-buffer), s.Dropped[ledger.DropUnavailable], "got %v dropped, want all but the buffer", s.Dropped)
			require.Equal(t, buffer, s.Buffered)

			stop()
			s = l.Stats()
			require.Equal(t, uint64(records), s.Dropped[ledger.DropUnavailable], "got %v, want the buffer dropped too", s.Dropped)
			require.Zero(t, s.Written)
		})
	}
}

func TestDatabaseReachedLater(t *testing.T) {
	url := testenv.Postgres(t)
	var calls int
	open := func(ctx context.Context) (*store.Store, error) {
		calls++ // Run calls open from one goroutine
		if calls < 3 {
			return nil, errors.New("not yet")
		}
		return store.Open(ctx, url)
	}
	l, _ := newLedger(t, open, ledger.Config{})
	run(t, l)
	for i := range 50 {
		l.Record(outcome(fmt.Sprintf("e%d", i), 1, bridge.OutcomeRouted))
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return l.Stats().Written == 50 },
		"outcomes buffered while PostgreSQL was down were not written once it came up: %+v", l.Stats())
	for reason, n := range l.Stats().Dropped {
		require.Zero(t, n, "got %d dropped (%s), want none", n, reason)
	}
}

func TestWriteFailureDropsBatchAndRecovers(t *testing.T) {
	url := testenv.Postgres(t)
	st := openStore(t, url)
	l, _ := newLedger(t, opener(url), ledger.Config{WriteAttempts: 2, FlushInterval: 10 * time.Millisecond})
	run(t, l)
	l.Record(outcome("first", 1, bridge.OutcomeRouted))
	testenv.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written == 1 }, "first outcome not written")

	ctx := context.Background()
	_, err := st.Pool().Exec(ctx, "ALTER TABLE ledger_events RENAME TO ledger_events_away")
	require.NoError(t, err)
	for i := range 10 {
		l.Record(outcome(fmt.Sprintf("lost%d", i), 1, bridge.OutcomeRouted))
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return l.Stats().Dropped[ledger.DropWriteFailed] == 10 },
		"a batch that cannot be written is dropped and counted: %+v", l.Stats())

	_, err = st.Pool().Exec(ctx, "ALTER TABLE ledger_events_away RENAME TO ledger_events")
	require.NoError(t, err)
	l.Record(outcome("after", 1, bridge.OutcomeRouted))
	testenv.Eventually(t, 20*time.Second, func() bool { return l.Stats().Written == 2 }, "writes did not resume: %+v", l.Stats())
}

func TestRetentionDeletesOldRows(t *testing.T) {
	url := testenv.Postgres(t)
	l, _ := newLedger(t, opener(url), ledger.Config{Retention: time.Hour, RetentionInterval: 20 * time.Millisecond, FlushInterval: 10 * time.Millisecond})
	run(t, l)
	old := outcome("old", 1, bridge.OutcomeRouted)
	old.ReceivedAt = time.Now().Add(-2 * time.Hour)
	l.Record(old)
	l.Record(outcome("new", 1, bridge.OutcomeRouted))
	testenv.Eventually(t, 10*time.Second, func() bool { s := l.Stats(); return s.Written == 2 && s.Deleted == 1 },
		"got %+v, want both written and the old one deleted", l.Stats())
	q := openStore(t, url).Ledger()
	_, err := q.Get(context.Background(), "old")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = q.Get(context.Background(), "new")
	require.NoError(t, err)
}

func TestMetrics(t *testing.T) {
	l, reg := newLedger(t, opener(testenv.Postgres(t)), ledger.Config{})
	l.Record(bridge.Outcome{Outcome: bridge.OutcomeDeadLettered}) // undecodable: no id
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += "{" + lp.GetName() + "=" + lp.GetValue() + "}"
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	require.Equal(t, 1.0, got["flowbridge_ledger_dropped_total{reason=no_event_id}"], "got %v", got)
	require.Contains(t, got, "flowbridge_ledger_dropped_total{reason=buffer_full}")
	require.Contains(t, got, "flowbridge_ledger_written_total")
	require.Contains(t, got, "flowbridge_ledger_buffered")

	_, err = ledger.New(opener(""), reg, testenv.Logger(t), ledger.Config{})
	require.Error(t, err, "a second ledger on one registry")
}

func TestNewValidates(t *testing.T) {
	open := opener("postgres://unused")
	tests := []struct {
		name    string
		open    ledger.OpenFunc
		cfg     ledger.Config
		wantErr string
	}{
		{name: "defaults", open: open},
		{name: "no open function", cfg: ledger.Config{}, wantErr: "open function"},
		{name: "negative buffer", open: open, cfg: ledger.Config{Buffer: -1}, wantErr: "Buffer -1"},
		{name: "negative flush interval", open: open, cfg: ledger.Config{FlushInterval: -time.Second}, wantErr: "FlushInterval -1s"},
		{name: "negative retention keeps rows", open: open, cfg: ledger.Config{Retention: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ledger.New(tt.open, nil, testenv.Logger(t), tt.cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ledger.ErrInvalidConfig)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRunTwice(t *testing.T) {
	l, _ := newLedger(t, func(context.Context) (*store.Store, error) { return nil, errors.New("down") }, ledger.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, l.Run(ctx), "Run returns once its context has ended")
	require.Error(t, l.Run(ctx), "a second Run")
}

// The buffer is bounded in bytes as well as in count: outcomes carrying long errors are
// dropped (buffer_full) once the bytes waiting reach BufferBytes, although the count
// would take them; what the writer takes frees its bytes again.
func TestBufferBoundedInBytes(t *testing.T) {
	url := testenv.Postgres(t)
	l, _ := newLedger(t, opener(url), ledger.Config{Buffer: 1000, BufferBytes: 8 << 10})
	long := strings.Repeat("x", 1500)
	for i := range 20 {
		o := outcome(fmt.Sprintf("big-%02d", i), 1, bridge.OutcomeDeadLettered)
		o.Error = long
		l.Record(o)
	}
	s := l.Stats()
	require.Positive(t, s.Buffered, "some fit")
	require.Less(t, s.Buffered, 8, "8 KiB holds fewer than eight outcomes of 1.5 KiB")
	require.Equal(t, 20, s.Buffered+int(s.Dropped[ledger.DropBufferFull]), "the rest dropped, counted: %+v", s)

	stop := run(t, l)
	testenv.Eventually(t, 30*time.Second, func() bool { return l.Stats().Buffered == 0 }, "the writer took what waited")
	l.Record(outcome("small-after", 1, bridge.OutcomeRouted))
	testenv.Eventually(t, 30*time.Second, func() bool { return l.Stats().Written >= uint64(s.Buffered)+1 }, "room again once written")
	stop()
}
