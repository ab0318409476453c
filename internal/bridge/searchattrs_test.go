package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/setup"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// registerSearchAttributes does what `bridge setup` does for search attributes in
// namespace "default" of c. Tests running beside this one may register them at the same
// time: what is left to create after a failed apply says whether that was the failure.
func registerSearchAttributes(t *testing.T, c client.Client) {
	t.Helper()
	routes, err := routing.Default()
	require.NoError(t, err)
	want := setup.SearchAttributes(routes)
	for range 3 {
		plan, err := setup.PlanSearchAttributes(t.Context(), c.OperatorService(), "default", want)
		require.NoError(t, err)
		require.Empty(t, plan.Refused(), "a search attribute of flowbridge's exists with another type")
		if len(plan.Changes) == 0 {
			return
		}
		if err := plan.Apply(t.Context()); err != nil {
			t.Logf("register search attributes: %v; looking again", err)
		}
	}
	t.Fatal("flowbridge's search attributes are still not registered after three tries")
}

// listWorkflows answers a visibility query on namespace "default".
func listWorkflows(t *testing.T, c client.Client, query string) []string {
	t.Helper()
	resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query})
	require.NoError(t, err)
	var ids []string
	for _, e := range resp.GetExecutions() {
		ids = append(ids, e.GetExecution().GetWorkflowId())
	}
	return ids
}

// The bridge sets FlowbridgeEventId, FlowbridgeEventType and FlowbridgeCorrelationId on
// what it starts: a visibility query by correlation id finds every workflow of a chain.
func TestSearchByCorrelationID(t *testing.T) {
	h := newHarness(t)
	registerSearchAttributes(t, h.temporal)
	h.routes = parseRoutes(t, fmt.Sprintf(`
routes:
  - {name: onboarding, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'sa-onboarding-{{ .data.user_id }}'}
  - name: verified
    events: [email.verified]
    action: signal_with_start
    workflow: RecordSignals
    task_queue: %s
    signal: note
    id: 'sa-verified-{{ .data.user_id }}'
`, testenv.ID("nobody-")))
	h.startBridge(h.temporal, bridge.Config{})

	user, corr := testenv.ID("u-"), testenv.ID("corr-")
	signup := newEvent(t, testenv.ID("ev-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
	signup.SetExtension(events.ExtCorrelationID, corr)
	h.publishBinary(signup)
	verified := newEvent(t, testenv.ID("ev-"), "email.verified", map[string]string{"user_id": user})
	verified.SetExtension(events.ExtCorrelationID, corr)
	h.publishStructured(verified)

	want := []string{"sa-onboarding-" + user, "sa-verified-" + user}
	query := fmt.Sprintf("%s = %q", contract.SearchAttributeCorrelationID, corr)
	var got []string
	testenv.Eventually(t, 30*time.Second, func() bool {
		got = listWorkflows(t, h.temporal, query)
		return len(got) == 2
	}, "query %s did not find both workflows %v", query, want)
	require.ElementsMatch(t, want, got)

	got = listWorkflows(t, h.temporal, fmt.Sprintf("%s = %q AND %s = 'user.signedup'", contract.SearchAttributeEventID, signup.ID(), contract.SearchAttributeEventType))
	require.Equal(t, []string{"sa-onboarding-" + user}, got)
}

// Where nobody ran `bridge setup`, the bridge starts workflows without its search
// attributes, whether its start-up check saw them missing (a client with the operator
// service) or Temporal refused the first start (a client without it): no event is
// dead-lettered for it.
func TestStartWithoutRegisteredSearchAttributes(t *testing.T) {
	tc := testenv.StartTemporal(t) // a server of its own: nothing registered
	for _, tt := range []struct {
		name     string
		temporal bridge.Temporal
	}{
		{"checked at start-up", tc},
		{"refused by Temporal", workflowServiceOnly{tc}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.temporal = tc
			rb := h.startBridge(tt.temporal, bridge.Config{})
			user := testenv.ID("u-")
			h.publishBinary(newEvent(t, testenv.ID("ev-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
			testenv.Eventually(t, 30*time.Second, func() bool {
				return h.status("onboarding-"+user) == enums.WORKFLOW_EXECUTION_STATUS_RUNNING
			}, "onboarding-%s was not started", user)
			require.Zero(t, rb.count(t, bridge.OutcomeDeadLettered))
			require.Equal(t, 1.0, rb.count(t, bridge.OutcomeRouted))
		})
	}
}

// workflowServiceOnly is a Temporal client without the operator service.
type workflowServiceOnly struct{ c client.Client }

func (w workflowServiceOnly) WorkflowService() workflowservice.WorkflowServiceClient {
	return w.c.WorkflowService()
}

func parseRoutes(t *testing.T, yaml string) *routing.Table {
	t.Helper()
	routes, err := routing.Parse([]byte(yaml), t.Name()+" routes")
	require.NoError(t, err)
	return routes
}
