package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// Events published on NATS with a NUL byte or invalid UTF-8 in their id share a ledger
// batch with good events: every good event's record is written.
func TestLedgerBehindTheBridgeSurvivesUnsafeIDs(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	routes, err := routing.Default()
	require.NoError(t, err)

	// The ledger runs only once the bridge has settled everything, so that every outcome
	// waits in its buffer and goes to PostgreSQL in one batch.
	l, _ := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})
	br, err := bridge.New(n.JS, tc, sch, routes, nil, testenv.Logger(t), bridge.Config{TaskQueue: testenv.ID("ledger-"), Recorder: l})
	require.NoError(t, err)
	bctx, stopBridge := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := br.Run(bctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge.Run: %v", err)
		}
	})
	t.Cleanup(func() { stopBridge(); wg.Wait() })

	msg := func(id, source string) *nats.Msg {
		m := nats.NewMsg(events.Subject("tenant.created")) // no route takes it: ignored
		m.Header.Set("ce-specversion", "1.0")
		m.Header.Set("ce-id", id)
		m.Header.Set("ce-type", "tenant.created")
		m.Header.Set("ce-source", source)
		m.Header.Set("Content-Type", "application/json")
		m.Data = []byte(`{"user_id":"u1","tenant_id":"t1"}`)
		return m
	}
	prefix := testenv.ID("ok-")
	const good = 20
	var published int
	for i := range good {
		if i == good/2 {
			for _, m := range []*nats.Msg{msg("nul\x00"+prefix, "/tests"), msg(prefix+"-\xff\xfe", "/tests")} {
				_, err := n.JS.PublishMsg(ctx, m)
				require.NoError(t, err)
				published++
			}
		}
		_, err := n.JS.PublishMsg(ctx, msg(fmt.Sprintf("%s-%d", prefix, i), "/tests"))
		require.NoError(t, err)
		published++
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		c, err := n.JS.Consumer(ctx, events.Stream, events.BridgeConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream == uint64(published) && info.NumAckPending == 0
	}, "the bridge did not settle the %d events", published)
	s := l.Stats()
	require.Equal(t, published, s.Buffered+int(s.Dropped[ledger.DropNoEventID]), "every outcome waits in the buffer (or has no id to record): %+v", s)

	stop := run(t, l)
	testenv.Eventually(t, 20*time.Second, func() bool { return l.Stats().Buffered == 0 && l.Stats().Written >= good }, "outcomes not written; the ledger logs why")
	stopBridge()
	wg.Wait()
	stop()
	s = l.Stats()
	require.Zero(t, s.Dropped[ledger.DropWriteFailed], "got %+v", s)
	require.Zero(t, s.Dropped[ledger.DropRejected], "got %+v", s)

	q := openStore(t, url).Ledger()
	for i := range good {
		e, err := q.Get(ctx, fmt.Sprintf("%s-%d", prefix, i))
		require.NoError(t, err, "event %d of the batch", i)
		require.Equal(t, bridge.OutcomeIgnored, e.Outcome)
	}
	if e, err := q.Get(ctx, prefix+"-\xff\xfe"); err == nil { // recorded when its id could be read
		require.Equal(t, prefix+"-\uFFFD", e.EventID)
	}
}
