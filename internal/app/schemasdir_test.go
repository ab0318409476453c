package app

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// A schema dropped in SCHEMAS_DIR validates a new event type without a rebuild: the
// ingress takes an order.placed that fits it (202) and refuses one that does not (400),
// and the bridge routes the good one to a workflow start on the real Temporal. A routes
// file reading a field the schema lacks stops the bridge at start-up.
func TestSchemasDirValidatesANewTypeWithoutARebuild(t *testing.T) {
	tc := testenv.Temporal(t)
	dir, queue := t.TempDir(), testenv.ID("orders-")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "order.placed.json"), []byte(`{
  "type": "object",
  "required": ["order_id", "total_cents"],
  "properties": {"order_id": {"type": "string", "minLength": 1}, "total_cents": {"type": "integer", "minimum": 0}}
}`), 0o600))
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	require.NoError(t, os.WriteFile(routes, []byte(`routes:
  - name: order-placed
    events: [order.placed]
    action: start
    workflow: FulfilOrder
    task_queue: `+queue+`
    id: 'order-{{ .data.order_id }}'
    args: ['data.order_id', 'data.total_cents']
`), 0o600))
	b := newTestBridgeWith(t, map[string]string{
		"TEMPORAL_ADDRESS": testenv.TemporalAddress(), "SCHEMAS_DIR": dir, "ROUTES_FILE": routes, "INGRESS_EVENTS_OPEN": "true",
	})
	b.start(t)

	post := func(data string) int {
		id := testenv.ID("evt-")
		body := `{"specversion":"1.0","id":"` + id + `","type":"order.placed","source":"/shop","data":` + data + `}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.public+"/events", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	order := testenv.ID("o")
	require.Equal(t, http.StatusBadRequest, post(`{"order_id":"`+order+`","total_cents":"12"}`), "breaks the schema from SCHEMAS_DIR")
	require.Equal(t, http.StatusAccepted, post(`{"order_id":"`+order+`","total_cents":1200}`))

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		desc, err := tc.DescribeWorkflowExecution(ctx, "order-"+order, "")
		if err == nil {
			require.Equal(t, "FulfilOrder", desc.GetWorkflowExecutionInfo().GetType().GetName())
			require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
			break
		}
		require.NoError(t, ctx.Err(), "workflow order-%s was not started: %v", order, err)
		time.Sleep(200 * time.Millisecond)
	}

	// A route reading a field the schema does not declare: the bridge does not start.
	require.NoError(t, os.WriteFile(routes, []byte(`routes:
  - {name: typo, events: [order.placed], action: start, workflow: FulfilOrder, task_queue: q, id: 'order-{{ .data.orderid }}'}
`), 0o600))
	env := map[string]string{"NATS_URL": b.nats.URL, "TEMPORAL_ADDRESS": testenv.TemporalAddress(), "SCHEMAS_DIR": dir, "ROUTES_FILE": routes,
		"DATABASE_URL": "postgres://postgres@127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t)) + "/x?sslmode=disable"}
	cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, cfgErr := newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
	if p != nil {
		p.close()
	}
	require.ErrorContains(t, cfgErr, "id reads data.orderid, which the schema of order.placed does not declare")
}
