package bridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/dlq"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// An operator fixes the cause of a dead letter and replays it: the bridge routes the
// event it could not route before. A replayed event that still fails goes back to the DLQ
// once, as a new dead letter, and stays there.
func TestDLQReplayRoutesFixedEvents(t *testing.T) {
	h := newHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{SignalWait: time.Second})
	q := dlq.New(h.nats.JS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A verification for a user whose onboarding never started is dead-lettered.
	user := testenv.ID("u-")
	wfID := "onboarding-" + user
	verified := newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": user})
	h.publishBinary(verified)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.dlq()) == 1 }, "email.verified was not dead-lettered")
	dl := h.dlq()[0]
	require.Contains(t, dl.Header.Get(events.HeaderError), "did not exist")

	// The cause is fixed: the workflow now exists.
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	h.waitExists(wfID)

	replayed, err := q.Replay(ctx, dlq.Filter{Type: "email.verified"}, dlq.ReplayOptions{})
	require.NoError(t, err)
	require.Len(t, replayed, 1)
	require.Equal(t, verified.ID(), replayed[0].EventID)
	require.Equal(t, fmt.Sprintf("replay-%d-%s", dl.Sequence, verified.ID()), replayed[0].MsgID)

	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, o := range rb.recorder.byEvent(verified.ID()) {
			if o.Outcome == bridge.OutcomeRouted {
				return true
			}
		}
		return false
	}, "the replayed email.verified was not routed: %+v", rb.recorder.byEvent(verified.ID()))
	outcomes := rb.recorder.byEvent(verified.ID())
	last := outcomes[len(outcomes)-1]
	require.Equal(t, bridge.OutcomeRouted, last.Outcome)
	require.Equal(t, "email-verified", last.Routes[0].Route)
	require.Equal(t, wfID, last.Routes[0].WorkflowID)
	require.Equal(t, "done", last.Routes[0].Result)
	require.Equal(t, 1, signalsReceived(h, wfID, contract.SignalEmailVerified), "the workflow got the signal once")
	h.consumerSettled(10 * time.Second)
	require.Empty(t, h.dlq())

	// An event that breaks its schema fails again after a replay: one new dead letter,
	// no loop.
	bad := newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": testenv.ID("u-")})
	h.publishBinary(bad)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(h.dlq()) == 1 }, "the bad event was not dead-lettered")
	first := h.dlq()[0]
	require.Contains(t, first.Header.Get(events.HeaderError), "missing property 'email'")

	replayed, err = q.Replay(ctx, dlq.Filter{Reason: "missing property"}, dlq.ReplayOptions{})
	require.NoError(t, err)
	require.Len(t, replayed, 1)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(rb.recorder.byEvent(bad.ID())) == 2 }, "the replayed bad event was not handled")
	h.consumerSettled(10 * time.Second)

	again := h.dlq()
	require.Len(t, again, 1, "back in the DLQ once")
	require.Greater(t, again[0].Sequence, first.Sequence, "as a new dead letter")
	require.Equal(t, bad.ID(), again[0].Header.Get("ce-id"))
	require.Equal(t, fmt.Sprint(first.Sequence), again[0].Header.Get(dlq.HeaderReplayedFrom))
	require.Equal(t, fmt.Sprintf("replay-%d-%s", first.Sequence, bad.ID()), again[0].Header.Get(events.HeaderMsgID))
	require.Contains(t, again[0].Header.Get(events.HeaderError), "missing property 'email'")
	for _, o := range rb.recorder.byEvent(bad.ID()) {
		require.Equal(t, bridge.OutcomeDeadLettered, o.Outcome)
	}
	require.Len(t, rb.recorder.byEvent(bad.ID()), 2, "handled once as published and once as replayed")
}

// signalsReceived counts the signals named name in the workflow's history.
func signalsReceived(h *harness, workflowID, name string) int {
	h.t.Helper()
	it := h.temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(h.t, err)
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			n++
		}
	}
	return n
}
