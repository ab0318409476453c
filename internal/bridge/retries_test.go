package bridge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// signal_with_start to a closed workflow under id_reuse_policy reject_duplicate: Temporal
// answers "already started" (the closed run), which no retry changes. The route's policy
// decides once: the event is dead-lettered, delivered once, with a reason naming the policy.
func TestSignalWithStartToClosedWorkflowDecidesOnce(t *testing.T) {
	h, _ := recorderHarness(t, "")
	rb := h.startBridge(h.temporal, bridge.Config{SignalWait: time.Second})
	key := testenv.ID("k")

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, running, 10*time.Second)
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "test.stop", map[string]string{"key": key}))
	h.waitStatus("rec-"+key, enums.WORKFLOW_EXECUTION_STATUS_CANCELED, 10*time.Second)

	late := newEvent(t, testenv.ID("evt-"), "test.swstart", map[string]string{"key": key})
	h.publishBinary(late)
	h.consumerSettled(20 * time.Second)

	outs := rb.recorder.byEvent(late.ID())
	require.Len(t, outs, 1, "the late event is decided on its first delivery: %+v", outs)
	require.Equal(t, bridge.OutcomeDeadLettered, outs[0].Outcome)
	dl := h.dlq()
	require.Len(t, dl, 1)
	require.Equal(t, late.ID(), dl[0].Header.Get("ce-id"))
	reason := dl[0].Header.Get(events.HeaderError)
	require.True(t, strings.Contains(reason, "is closed") && strings.Contains(reason, "id_reuse_policy reject_duplicate"), "reason: %s", reason)
	require.Zero(t, rb.count(t, bridge.OutcomeRetried))
}
