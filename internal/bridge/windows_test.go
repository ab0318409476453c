package bridge_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// envelope is the part of an event envelope (docs/publishing.md) the tests read.
type envelope struct {
	ID string `json:"id"`
}

// windowRoutes are a debounce route and a batch route on user.signedup, told apart by
// the data's name; their workflows need no worker (a start is what is counted).
func windowRoutes(t *testing.T, h *harness, quiet, window time.Duration, size int) *routing.Table {
	t.Helper()
	tbl, err := routing.Parse(fmt.Appendf(nil, `
routes:
  - name: quiet-profile
    events: [user.signedup]
    filter: 'data.name == "debounce"'
    action: start
    workflow: ProfileSync
    task_queue: %[1]s
    id: 'profile-{{ .data.user_id }}-{{ .id }}'
    debounce: {key: '{{ .data.user_id }}', quiet: %[2]s}
  - name: digest
    events: [user.signedup]
    filter: 'data.name == "batch"'
    action: start
    workflow: Digest
    task_queue: %[1]s
    id: 'digest-{{ .id }}'
    batch: {key: '{{ .data.email }}', size: %[4]d, window: %[3]s}
`, h.taskQueue, quiet, window, size), "windows.yaml")
	require.NoError(t, err)
	return tbl
}

// publishBurst publishes n user.signedup events of one user for the route named by kind
// ("debounce" or "batch") and returns their ids, in order.
func publishBurst(t *testing.T, h *harness, kind, user string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%s-%02d", kind, user, i)
		h.publishBinary(newEvent(t, ids[i], "user.signedup", map[string]any{"user_id": user, "email": user + "@example.com", "name": kind}))
	}
	return ids
}

// starts returns the workflow ids the bridges started (outcome routed, result done) for
// route, each as many times as it was started.
func starts(route string, rbs ...*runningBridge) []string {
	var out []string
	for _, rb := range rbs {
		for _, o := range rb.recorder.all() {
			for _, r := range o.Routes {
				if r.Route == route && r.Result == "done" && r.Action == string(routing.Start) && !slices.Contains(out, r.WorkflowID) {
					out = append(out, r.WorkflowID)
				}
			}
		}
	}
	return out
}

// batchInput reads the list a batch workflow was started with.
func batchInput(t *testing.T, h *harness, workflowID string) []envelope {
	t.Helper()
	it := h.temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			payloads := a.GetInput().GetPayloads()
			require.Len(t, payloads, 1, "%s: a batch is one argument", workflowID)
			var list []envelope
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(payloads[0], &list))
			return list
		}
	}
	t.Fatalf("%s has no start event", workflowID)
	return nil
}

// A burst of 50 events of one key starts one workflow, with the last event, once the key
// has been quiet; another key's burst is its own.
func TestDebounceFoldsABurstIntoOneStart(t *testing.T) {
	h := newHarness(t)
	h.routes = windowRoutes(t, h, 2*time.Second, time.Minute, 10)
	rb := h.startBridge(h.temporal, bridge.Config{})

	u1, u2 := testenv.ID("u1"), testenv.ID("u2")
	ids := publishBurst(t, h, "debounce", u1, 50)
	other := publishBurst(t, h, "debounce", u2, 3)
	h.consumerSettled(10 * time.Second)
	require.Equal(t, float64(53), rb.count(t, bridge.OutcomeHeld), "every event is held, none acted on yet")

	want := []string{"profile-" + u1 + "-" + ids[49], "profile-" + u2 + "-" + other[2]}
	testenv.Eventually(t, 20*time.Second, func() bool { return len(starts("quiet-profile", rb)) == 2 }, "got starts %v, want %v", starts("quiet-profile", rb), want)
	require.ElementsMatch(t, want, starts("quiet-profile", rb))
	h.waitExists(want[0])
	require.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, h.status("profile-"+u1+"-"+ids[0]), "a folded event started a workflow")

	// Nothing is left in the window, and nothing more comes.
	s, err := h.nats.JS.Stream(context.Background(), events.DebounceStream)
	require.NoError(t, err)
	testenv.Eventually(t, 5*time.Second, func() bool {
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	}, "EVENTS_DEBOUNCE still holds events after the starts")
	require.Len(t, starts("quiet-profile", rb), 2)
	require.Equal(t, float64(53), counterSum(t, rb, "flowbridge_bridge_window_events_total"))
	require.Equal(t, float64(2), counterSum(t, rb, "flowbridge_bridge_window_deliveries_total"))
}

// 25 events with size 10 are delivered as three lists — 10, 10, 5 — each event in exactly
// one, in order; the last list when its window ends.
func TestBatchDeliversListsOfSize(t *testing.T) {
	h := newHarness(t)
	h.routes = windowRoutes(t, h, time.Second, 3*time.Second, 10)
	rb := h.startBridge(h.temporal, bridge.Config{})

	ids := publishBurst(t, h, "batch", testenv.ID("u"), 25)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(starts("digest", rb)) == 3 }, "got batches %v, want 3", starts("digest", rb))
	checkBatches(t, h, starts("digest", rb), ids, []int{10, 10, 5})
	require.Equal(t, float64(3), counterSum(t, rb, "flowbridge_bridge_window_deliveries_total"))
	require.Equal(t, float64(25), rb.count(t, bridge.OutcomeRouted), "each event recorded as routed once")
}

// checkBatches says the batch workflows got every id once, in order, in lists of sizes.
func checkBatches(t *testing.T, h *harness, workflowIDs, ids []string, sizes []int) {
	t.Helper()
	var got []string
	var gotSizes []int
	lists := map[string][]envelope{}
	for _, id := range workflowIDs {
		lists[id] = batchInput(t, h, id)
	}
	// In the order of their first events.
	order := slices.Clone(workflowIDs)
	slices.SortFunc(order, func(a, b string) int { return slices.Index(ids, lists[a][0].ID) - slices.Index(ids, lists[b][0].ID) })
	for _, id := range order {
		require.Equal(t, "digest-"+lists[id][0].ID, id, "a batch's workflow id is its first event's")
		gotSizes = append(gotSizes, len(lists[id]))
		for _, ev := range lists[id] {
			got = append(got, ev.ID)
		}
	}
	require.Equal(t, sizes, gotSizes)
	require.Equal(t, ids, got, "every event once, in order")
}

// A bridge stopped mid-window loses nothing: a second bridge closes the debounce and
// batch windows the first left open, and no event is delivered twice.
func TestWindowsSurviveABridgeStoppedMidWindow(t *testing.T) {
	h := newHarness(t)
	h.routes = windowRoutes(t, h, 8*time.Second, 8*time.Second, 10)
	first := h.startBridge(h.temporal, bridge.Config{AckWait: 5 * time.Second})

	u := testenv.ID("u")
	bursts := publishBurst(t, h, "debounce", u, 50)
	batched := publishBurst(t, h, "batch", u, 25)
	h.consumerSettled(10 * time.Second)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(starts("digest", first)) >= 1 }, "the first full batch was not delivered")
	first.stop() // mid-window: the debounced burst and at least the last 5 events are held
	require.Empty(t, starts("quiet-profile", first), "the quiet period had not passed")
	require.Less(t, len(starts("digest", first)), 3, "the last batch's window had not ended")

	second := h.startBridge(h.temporal, bridge.Config{AckWait: 5 * time.Second})
	testenv.Eventually(t, 30*time.Second, func() bool {
		return len(starts("quiet-profile", second)) == 1 && len(starts("digest", first, second)) == 3
	}, "second bridge: debounced %v, batches %v", starts("quiet-profile", second), starts("digest", first, second))
	require.Equal(t, []string{"profile-" + u + "-" + bursts[49]}, starts("quiet-profile", first, second))
	checkBatches(t, h, starts("digest", first, second), batched, []int{10, 10, 5})
}

// counterSum sums a counter over its labels.
func counterSum(t *testing.T, rb *runningBridge, name string) float64 {
	t.Helper()
	mfs, err := rb.reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// Two replicas on the same windows: each batch is delivered by one of them, each event in
// exactly one batch, and a debounced burst starts one workflow.
func TestWindowsWithTwoReplicas(t *testing.T) {
	h := newHarness(t)
	h.routes = windowRoutes(t, h, 2*time.Second, 2*time.Second, 10)
	a := h.startBridge(h.temporal, bridge.Config{})
	b := h.startBridge(h.temporal, bridge.Config{})

	u := testenv.ID("u")
	batched := publishBurst(t, h, "batch", u, 45)
	publishBurst(t, h, "debounce", u, 20)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return len(starts("digest", a, b)) == 5 && len(starts("quiet-profile", a, b)) == 1
	}, "batches %v, debounced %v", starts("digest", a, b), starts("quiet-profile", a, b))
	ids := starts("digest", a, b)
	var all []string
	for _, id := range ids {
		for _, ev := range batchInput(t, h, id) {
			all = append(all, ev.ID)
		}
	}
	require.ElementsMatch(t, batched, all, "every event in exactly one batch")
	require.Equal(t, float64(5), counterSum(t, a, "flowbridge_bridge_window_deliveries_total")+counterSum(t, b, "flowbridge_bridge_window_deliveries_total")-1,
		"five batches and one debounced start, each delivered once")
}
