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
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// record writes outcomes through a running ledger and waits until they are written.
func record(t *testing.T, l *ledger.Ledger, outs ...bridge.Outcome) {
	t.Helper()
	before := l.Stats().Written
	for _, o := range outs {
		l.Record(o)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return l.Stats().Written >= before+uint64(len(outs)) },
		"outcomes not written: %+v", l.Stats())
}

// seedLineage records a signup that was retried once, then routed, and the chain of
// events it caused, three levels deep:
//
//	e1 ─┬─ onboarding-e1/email.verification_sent
//	    └─ onboarding-e1/tenant.created ── billing-t1/billing.ready ── report-b1/report.daily
func seedLineage(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	record(t, l,
		outcome("e1", 1, bridge.OutcomeRetried, bridge.RouteResult{Route: "user-onboarding", Action: "start", WorkflowID: "onboarding-e1", Result: "retry"}),
		outcome("e1", 2, bridge.OutcomeRouted, started("e1", "run-1")),
		caused("onboarding-e1", "email.verification_sent", "e1"),
		caused("onboarding-e1", "tenant.created", "e1"),
		caused("billing-t1", "billing.ready", "onboarding-e1/tenant.created"),
		caused("report-b1", "report.daily", "billing-t1/billing.ready"),
		caused("other", "tenant.created", "e9"),
	)
}

// shape writes a tree as id[child child...].
func shape(n *ledger.Node) string {
	if len(n.Children) == 0 {
		return n.EventID
	}
	var kids []string
	for _, c := range n.Children {
		kids = append(kids, shape(c))
	}
	return n.EventID + "[" + strings.Join(kids, " ") + "]"
}

func TestLineage(t *testing.T) {
	url := testenv.Postgres(t)
	l, _ := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})
	run(t, l)
	seedLineage(t, l)
	q := openStore(t, url).Ledger()
	ctx := context.Background()

	tests := []struct {
		name string
		id   string
		want string
	}{
		{name: "from the first event", id: "e1",
			want: "e1[onboarding-e1/email.verification_sent onboarding-e1/tenant.created[billing-t1/billing.ready[report-b1/report.daily]]]"},
		{name: "from the middle of the chain", id: "onboarding-e1/tenant.created",
			want: "onboarding-e1/tenant.created[billing-t1/billing.ready[report-b1/report.daily]]"},
		{name: "a leaf", id: "report-b1/report.daily", want: "report-b1/report.daily"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ledger.Lineage(ctx, q, tt.id)
			require.NoError(t, err)
			require.Equal(t, tt.want, shape(n))
		})
	}

	root, err := ledger.Lineage(ctx, q, "e1")
	require.NoError(t, err)
	require.Equal(t, bridge.OutcomeRouted, root.Outcome)
	require.Equal(t, 1, root.Retries, "routed, retried once")
	require.Equal(t, "run-1", root.RunID)
	require.Len(t, root.Attempts, 2)
	require.Equal(t, bridge.OutcomeRetried, root.Attempts[0].Outcome)

	_, err = ledger.Lineage(ctx, q, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestLineageIsBounded(t *testing.T) {
	url := testenv.Postgres(t)
	l, _ := newLedger(t, opener(url), ledger.Config{FlushInterval: 10 * time.Millisecond})
	run(t, l)
	outs := []bridge.Outcome{outcome("c0", 1, bridge.OutcomeRouted)}
	for i := 1; i <= ledger.MaxDepth+2; i++ {
		outs = append(outs, caused(fmt.Sprintf("wf%d", i), "x", outs[i-1].EventID))
	}
	// Two events that claim to have caused each other.
	outs = append(outs, caused("loop", "a", "loop/b"), caused("loop", "b", "loop/a"))
	record(t, l, outs...)
	q := openStore(t, url).Ledger()

	n, err := ledger.Lineage(context.Background(), q, "loop/a")
	require.NoError(t, err)
	require.Equal(t, "loop/a[loop/b]", shape(n), "a cycle is cut where it closes")

	n, err = ledger.Lineage(context.Background(), q, "c0")
	require.NoError(t, err)
	depth := 0
	for ; len(n.Children) > 0; n = n.Children[0] {
		depth++
	}
	require.Equal(t, ledger.MaxDepth, depth)
	require.True(t, n.Truncated, "the deepest node says its children were not looked up")
}
