package ledger_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// The ledger behind a real bridge (NATS, Temporal, PostgreSQL): a signup is routed to a
// workflow, the result event its workflow would emit is ignored and hangs under it, and
// an event that breaks its schema is dead-lettered with the reason.
func TestLedgerBehindTheBridge(t *testing.T) {
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

	l, _ := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})
	stopLedger := run(t, l)
	namespace := os.Getenv("TEMPORAL_NAMESPACE")
	if namespace == "" {
		namespace = config.DefaultTemporalNamespace
	}
	br, err := bridge.New(n.JS, tc, sch, routes, nil, testenv.Logger(t), bridge.Config{
		TaskQueue: testenv.ID("ledger-"), Namespace: namespace, Recorder: l,
	})
	require.NoError(t, err)
	bctx, stopBridge := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := br.Run(bctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge.Run: %v", err)
		}
	})
	t.Cleanup(func() { stopBridge(); wg.Wait(); stopLedger() }) // the bridge stops recording first

	user := testenv.ID("u")
	wf := "onboarding-" + user
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), wf, "", "test over") })
	signup := testenv.ID("signup-")
	result := wf + "/tenant.created"
	bad := testenv.ID("bad-")
	pub := events.NewPublisher(n.JS)
	publish := func(id, typ string, data any, ext map[string]string) {
		ev := cloudevents.New()
		ev.SetID(id)
		ev.SetType(typ)
		ev.SetSource("/tests")
		for k, v := range ext {
			ev.SetExtension(k, v)
		}
		require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, data))
		_, err := pub.Publish(ctx, ev)
		require.NoError(t, err)
	}
	publish(signup, "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}, nil)
	publish(result, "tenant.created", map[string]string{"user_id": user, "tenant_id": "t1"},
		map[string]string{events.ExtCausationID: signup, events.ExtCorrelationID: signup})
	publish(bad, "user.signedup", map[string]string{"user_id": user}, nil)

	q := openStore(t, url).Ledger()
	get := func(id string) store.LedgerEvent {
		var e store.LedgerEvent
		testenv.Eventually(t, 30*time.Second, func() bool {
			e, err = q.Get(ctx, id)
			return err == nil
		}, "event %s not in the ledger: %v (%+v)", id, err, l.Stats())
		return e
	}

	got := get(signup)
	require.Equal(t, bridge.OutcomeRouted, got.Outcome)
	require.Equal(t, wf, got.WorkflowID)
	require.NotEmpty(t, got.RunID, "the run the signup started")
	require.False(t, got.ReceivedAt.IsZero())

	require.Equal(t, bridge.OutcomeIgnored, get(result).Outcome)

	deadLetter := get(bad)
	require.Equal(t, bridge.OutcomeDeadLettered, deadLetter.Outcome)
	require.Contains(t, deadLetter.Error, "email", "the reason names the missing field")

	tree, err := ledger.Lineage(ctx, q, signup)
	require.NoError(t, err)
	require.Equal(t, signup+"["+result+"]", shape(tree))
}
