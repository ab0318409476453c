package routing_test

import (
	"errors"
	"slices"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// event builds a CloudEvent whose data is exactly data ("": no data).
func event(typ, data string) events.Event {
	ev := cloudevents.New()
	ev.SetID("ev-1")
	ev.SetType(typ)
	ev.SetSource("/test")
	if data != "" {
		ev.SetDataContentType("application/json")
		ev.DataEncoded = []byte(data)
	}
	return ev
}

func defaultTable(t *testing.T) *routing.Table {
	t.Helper()
	tbl, err := routing.NewTable(routing.Default())
	require.NoError(t, err)
	return tbl
}

// TestDecideDefault pins the contract's "Event types and what they do" table: workflow
// types, signal names and workflow ids are written out here, not taken from constants.
func TestDecideDefault(t *testing.T) {
	tbl := defaultTable(t)
	tests := []struct {
		name string
		typ  string
		data string
		want []routing.Decision
	}{
		{
			name: "user.signedup starts onboarding",
			typ:  "user.signedup",
			data: `{"user_id":"u-42","email":"ada@example.com"}`,
			want: []routing.Decision{{Route: "user-signedup", Action: routing.Start, WorkflowType: "UserOnboarding", WorkflowID: "onboarding-u-42"}},
		},
		{
			name: "email.verified signals onboarding",
			typ:  "email.verified",
			data: `{"user_id":"u-42"}`,
			want: []routing.Decision{{Route: "email-verified", Action: routing.Signal, Signal: "email-verified", WorkflowID: "onboarding-u-42"}},
		},
		{
			name: "stripe.paid starts payment processing",
			typ:  "stripe.paid",
			data: `{"payment_id":"pi_3Abc","customer_id":"cus_1","amount":4200,"currency":"eur"}`,
			want: []routing.Decision{{Route: "stripe-paid", Action: routing.Start, WorkflowType: "PaymentProcessing", WorkflowID: "payment-pi_3Abc"}},
		},
		{
			name: "blueprint.pushed starts a deploy",
			typ:  "blueprint.pushed",
			data: `{"repository":"acme/blueprints","clone_url":"https://github.com/acme/blueprints.git","ref":"refs/heads/main","commit_sha":"0123abc"}`,
			want: []routing.Decision{{Route: "blueprint-pushed", Action: routing.Start, WorkflowType: "BlueprintDeploy", WorkflowID: "deploy-acme-blueprints-0123abc"}},
		},
		{
			name: "blueprint.pushed replaces every slash",
			typ:  "blueprint.pushed",
			data: `{"repository":"acme/infra/blueprints","clone_url":"u","ref":"refs/heads/main","commit_sha":"ffff000"}`,
			want: []routing.Decision{{Route: "blueprint-pushed", Action: routing.Start, WorkflowType: "BlueprintDeploy", WorkflowID: "deploy-acme-infra-blueprints-ffff000"}},
		},
		{
			name: "connector.sync.requested starts a sync",
			typ:  "connector.sync.requested",
			data: `{"connector_id":"c-9"}`,
			want: []routing.Decision{{Route: "connector-sync-requested", Action: routing.Start, WorkflowType: "ConnectorSync", WorkflowID: "connector-sync-c-9"}},
		},
		{
			name: "extra fields are ignored",
			typ:  "email.verified",
			data: `{"user_id":"u-42","verified_at":"2026-05-01T12:00:00Z","extra":{"a":[1,2]}}`,
			want: []routing.Decision{{Route: "email-verified", Action: routing.Signal, Signal: "email-verified", WorkflowID: "onboarding-u-42"}},
		},
		{name: "result event has no route", typ: "onboarding.completed", data: `{"user_id":"u-42"}`},
		{name: "unknown type has no route", typ: "user.deleted", data: `{"user_id":"u-42"}`},
		{name: "unknown type is not parsed", typ: "stripe.charge.refunded", data: `not json`},
		{name: "unknown type without data", typ: "ping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tbl.Decide(event(tt.typ, tt.data))
			require.NoError(t, err)
			if tt.want == nil {
				require.Empty(t, got, "got %v, want no decisions", got)
				return
			}
			require.Equal(t, tt.want, got, "got %+v, want %+v", got, tt.want)
		})
	}
}

func TestDecideUnroutable(t *testing.T) {
	tbl := defaultTable(t)
	tests := []struct {
		name    string
		typ     string
		data    string
		wantErr []string
	}{
		{name: "missing user_id", typ: "user.signedup", data: `{"email":"ada@example.com"}`, wantErr: []string{"route user-signedup", `data field "user_id"`}},
		{name: "empty user_id", typ: "email.verified", data: `{"user_id":""}`, wantErr: []string{"route email-verified", `"user_id"`}},
		{name: "user_id not a string", typ: "email.verified", data: `{"user_id":42}`, wantErr: []string{`"user_id"`, "not a non-empty string"}},
		{name: "user_id null", typ: "user.signedup", data: `{"user_id":null}`, wantErr: []string{`"user_id"`}},
		{name: "missing payment_id", typ: "stripe.paid", data: `{"customer_id":"cus_1"}`, wantErr: []string{"route stripe-paid", `"payment_id"`}},
		{name: "missing commit_sha", typ: "blueprint.pushed", data: `{"repository":"acme/blueprints"}`, wantErr: []string{"route blueprint-pushed", `"commit_sha"`}},
		{name: "missing repository", typ: "blueprint.pushed", data: `{"commit_sha":"0123abc"}`, wantErr: []string{`"repository"`}},
		{name: "missing connector_id", typ: "connector.sync.requested", data: `{}`, wantErr: []string{"route connector-sync-requested", `"connector_id"`}},
		{name: "data null", typ: "user.signedup", data: `null`, wantErr: []string{`"user_id"`}},
		{name: "data not JSON", typ: "user.signedup", data: `user_id=u-42`, wantErr: []string{"user.signedup data is not a JSON object"}},
		{name: "data a JSON array", typ: "email.verified", data: `[{"user_id":"u-42"}]`, wantErr: []string{"email.verified data is not a JSON object"}},
		{name: "data a JSON string", typ: "email.verified", data: `"u-42"`, wantErr: []string{"data is not a JSON object"}},
		{name: "no data", typ: "stripe.paid", wantErr: []string{"stripe.paid data is not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tbl.Decide(event(tt.typ, tt.data))
			require.Error(t, err)
			require.Nil(t, got, "got %v, want no decisions with an error", got)
			require.True(t, errors.Is(err, routing.ErrUnroutable), "got %v, want it to wrap ErrUnroutable", err)
			for _, s := range tt.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestDefaultCoversTheContract(t *testing.T) {
	got := defaultTable(t).EventTypes()
	slices.Sort(got)
	want := []string{"blueprint.pushed", "connector.sync.requested", "email.verified", "stripe.paid", "user.signedup"}
	require.Equal(t, want, got, "got %v, want %v", got, want)
}

func TestDecideCustomRoutes(t *testing.T) {
	tbl, err := routing.NewTable([]routing.Route{
		{Name: "order-placed", EventType: "order.placed", Action: routing.SignalWithStart, WorkflowType: "Order", Signal: "placed", IDPrefix: "order-", IDFields: []string{"order_id"}},
		{Name: "order-audit", EventType: "order.placed", Action: routing.Start, WorkflowType: "Audit", IDPrefix: "audit-", IDFields: []string{"tenant", "order_id"}},
		{Name: "order-cancelled", EventType: "order.cancelled", Action: routing.Cancel, IDPrefix: "order-", IDFields: []string{"order_id"}},
		{Name: "no-prefix", EventType: "thing.happened", Action: routing.Start, WorkflowType: "Thing", IDFields: []string{"thing_id"}},
	})
	require.NoError(t, err)

	tests := []struct {
		name    string
		typ     string
		data    string
		want    []routing.Decision
		wantErr string
	}{
		{
			name: "two routes in table order",
			typ:  "order.placed",
			data: `{"order_id":"o-1","tenant":"t/eu"}`,
			want: []routing.Decision{
				{Route: "order-placed", Action: routing.SignalWithStart, WorkflowType: "Order", Signal: "placed", WorkflowID: "order-o-1"},
				{Route: "order-audit", Action: routing.Start, WorkflowType: "Audit", WorkflowID: "audit-t-eu-o-1"},
			},
		},
		{
			name: "cancel",
			typ:  "order.cancelled",
			data: `{"order_id":"o-1"}`,
			want: []routing.Decision{{Route: "order-cancelled", Action: routing.Cancel, WorkflowID: "order-o-1"}},
		},
		{
			name: "no prefix",
			typ:  "thing.happened",
			data: `{"thing_id":"x"}`,
			want: []routing.Decision{{Route: "no-prefix", Action: routing.Start, WorkflowType: "Thing", WorkflowID: "x"}},
		},
		{
			name:    "one of two routes cannot make its id",
			typ:     "order.placed",
			data:    `{"order_id":"o-1"}`,
			wantErr: `route order-audit: data field "tenant"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tbl.Decide(event(tt.typ, tt.data))
			if tt.wantErr != "" {
				require.ErrorIs(t, err, routing.ErrUnroutable)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Nil(t, got, "got %v, want no decisions with an error", got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "got %+v, want %+v", got, tt.want)
		})
	}
}

func TestNewTableRejectsBadRoutes(t *testing.T) {
	good := routing.Route{Name: "r", EventType: "a.b", Action: routing.Start, WorkflowType: "W", IDPrefix: "w-", IDFields: []string{"id"}}
	with := func(change func(r *routing.Route)) routing.Route {
		r := good
		r.IDFields = slices.Clone(good.IDFields)
		change(&r)
		return r
	}
	tests := []struct {
		name          string
		route         routing.Route
		wantErr       []string
		wantMalformed bool
	}{
		{name: "unknown action", route: with(func(r *routing.Route) { r.Action = "restart" }),
			wantErr: []string{`route "r"`, `action "restart" is not start, signal, signal_with_start or cancel`}},
		{name: "empty action", route: with(func(r *routing.Route) { r.Action = "" }),
			wantErr: []string{`action "" is not start, signal, signal_with_start or cancel`}},
		{name: "action in the wrong case", route: with(func(r *routing.Route) { r.Action = "Start" }),
			wantErr: []string{`action "Start"`}},
		{name: "start without workflow type", route: with(func(r *routing.Route) { r.WorkflowType = "" }),
			wantErr: []string{`route "r"`, "start needs a workflow type"}},
		{name: "signal_with_start without workflow type", route: with(func(r *routing.Route) { r.Action, r.WorkflowType, r.Signal = routing.SignalWithStart, "", "s" }),
			wantErr: []string{"signal_with_start needs a workflow type"}},
		{name: "signal without signal name", route: with(func(r *routing.Route) { r.Action, r.WorkflowType = routing.Signal, "" }),
			wantErr: []string{`route "r"`, "signal needs a signal name"}},
		{name: "signal_with_start without signal name", route: with(func(r *routing.Route) { r.Action = routing.SignalWithStart }),
			wantErr: []string{"signal_with_start needs a signal name"}},
		{name: "event type with wildcard", route: with(func(r *routing.Route) { r.EventType = "a.*" }),
			wantErr: []string{`route "r"`, `type "a.*" is not a valid subject token sequence`}, wantMalformed: true},
		{name: "event type with space", route: with(func(r *routing.Route) { r.EventType = "a b" }),
			wantErr: []string{`type "a b"`}, wantMalformed: true},
		{name: "event type with empty token", route: with(func(r *routing.Route) { r.EventType = "a..b" }),
			wantErr: []string{`type "a..b"`}, wantMalformed: true},
		{name: "missing event type", route: with(func(r *routing.Route) { r.EventType = "" }),
			wantErr: []string{`route "r": name, event type and id fields are required`}},
		{name: "missing name", route: with(func(r *routing.Route) { r.Name = "" }),
			wantErr: []string{"name, event type and id fields are required"}},
		{name: "missing id fields", route: with(func(r *routing.Route) { r.IDFields = nil }),
			wantErr: []string{`route "r": name, event type and id fields are required`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := routing.NewTable([]routing.Route{tt.route})
			require.Error(t, err)
			for _, s := range tt.wantErr {
				require.Contains(t, err.Error(), s)
			}
			got := errors.Is(err, events.ErrMalformed)
			require.Equal(t, tt.wantMalformed, got, "errors.Is(err, ErrMalformed): got %v, want %v (err %v)", got, tt.wantMalformed, err)
		})
	}
}

func TestNewTableAcceptsGoodRoutes(t *testing.T) {
	tests := []struct {
		name  string
		route routing.Route
	}{
		{name: "start", route: routing.Route{Name: "r", EventType: "a.b", Action: routing.Start, WorkflowType: "W", IDFields: []string{"id"}}},
		{name: "signal", route: routing.Route{Name: "r", EventType: "a.b", Action: routing.Signal, Signal: "s", IDFields: []string{"id"}}},
		{name: "signal_with_start", route: routing.Route{Name: "r", EventType: "a.b", Action: routing.SignalWithStart, WorkflowType: "W", Signal: "s", IDFields: []string{"id"}}},
		{name: "cancel needs neither workflow type nor signal", route: routing.Route{Name: "r", EventType: "a.b", Action: routing.Cancel, IDFields: []string{"id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := routing.NewTable([]routing.Route{tt.route})
			require.NoError(t, err)
			got := tbl.EventTypes()
			require.Equal(t, []string{"a.b"}, got, "got %v, want [a.b]", got)
		})
	}
}

func TestNewTableReportsEveryBadRoute(t *testing.T) {
	_, err := routing.NewTable([]routing.Route{
		{Name: "good", EventType: "a.b", Action: routing.Start, WorkflowType: "W", IDFields: []string{"id"}},
		{Name: "bad-action", EventType: "a.c", Action: "stop", IDFields: []string{"id"}},
		{Name: "bad-signal", EventType: "a.d", Action: routing.Signal, IDFields: []string{"id"}},
	})
	require.Error(t, err)
	require.Contains(t, err.Error(), `route "bad-action"`)
	require.Contains(t, err.Error(), `route "bad-signal"`)
	require.NotContains(t, err.Error(), `route "good"`)
}
