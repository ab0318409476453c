package routing_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/schemas"
)

// event builds a CloudEvent whose data is exactly data ("": no data).
func event(typ, data string) events.Event {
	ev := cloudevents.New()
	ev.SetID("ev-1")
	ev.SetType(typ)
	ev.SetSource("/test")
	ev.SetExtension("correlationid", "corr-1")
	if data != "" {
		ev.SetDataContentType("application/json")
		ev.DataEncoded = []byte(data)
	}
	return ev
}

func defaultTable(t *testing.T) *routing.Table {
	t.Helper()
	tbl, err := routing.Default()
	require.NoError(t, err)
	return tbl
}

func parse(t *testing.T, yaml string) *routing.Table {
	t.Helper()
	tbl, err := routing.Parse([]byte(yaml), "test.yaml")
	require.NoError(t, err)
	return tbl
}

// brief is the part of a Decision most tests compare.
type brief struct {
	Route, Action, WorkflowType, WorkflowID, Signal string
}

func briefs(ds []routing.Decision) []brief {
	var out []brief
	for _, d := range ds {
		out = append(out, brief{d.Route, string(d.Action), d.WorkflowType, d.WorkflowID, d.Signal})
	}
	return out
}

// TestDecideDefault pins the contract's "Event types and what they do" table: workflow
// types, signal names and workflow ids are written out here, not taken from constants.
func TestDecideDefault(t *testing.T) {
	tbl := defaultTable(t)
	tests := []struct {
		name string
		typ  string
		data string
		want []brief
	}{
		{"user.signedup starts onboarding", "user.signedup", `{"user_id":"u-42","email":"ada@example.com"}`,
			[]brief{{"user-signedup", "start", "UserOnboarding", "onboarding-u-42", ""}}},
		{"email.verified signals onboarding", "email.verified", `{"user_id":"u-42"}`,
			[]brief{{"email-verified", "signal", "", "onboarding-u-42", "email-verified"}}},
		{"stripe.paid starts payment processing", "stripe.paid", `{"payment_id":"pi_3Abc","customer_id":"cus_1","amount":4200,"currency":"eur"}`,
			[]brief{{"stripe-paid", "start", "PaymentProcessing", "payment-pi_3Abc", ""}}},
		{"blueprint.pushed starts a deploy", "blueprint.pushed", `{"repository":"acme/blueprints","clone_url":"u","ref":"refs/heads/main","commit_sha":"0123abc"}`,
			[]brief{{"blueprint-pushed", "start", "BlueprintDeploy", "deploy-acme-blueprints-0123abc", ""}}},
		{"blueprint.pushed replaces every slash", "blueprint.pushed", `{"repository":"acme/infra/blueprints","clone_url":"u","ref":"r","commit_sha":"ffff000"}`,
			[]brief{{"blueprint-pushed", "start", "BlueprintDeploy", "deploy-acme-infra-blueprints-ffff000", ""}}},
		{"connector.sync.requested starts a sync", "connector.sync.requested", `{"connector_id":"c-9"}`,
			[]brief{{"connector-sync-requested", "start", "ConnectorSync", "connector-sync-c-9", ""}}},
		{"a result event is ignored", "tenant.created", `{"user_id":"u","tenant_id":"t"}`, nil},
		{"an unknown type is ignored", "something.else", `{}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, misses, err := tbl.Decide(event(tt.typ, tt.data))
			require.NoError(t, err)
			require.Empty(t, misses)
			require.Equal(t, tt.want, briefs(got), "got %+v, want %+v", briefs(got), tt.want)
		})
	}
}

// A started workflow gets the whole event as input and its origin in the memo; the
// contract's starts reject a duplicate workflow id.
func TestDecideDefaultInputAndMemo(t *testing.T) {
	ds, _, err := defaultTable(t).Decide(event("user.signedup", `{"user_id":"u-42","email":"a@example.com"}`))
	require.NoError(t, err)
	require.Len(t, ds, 1)
	d := ds[0]
	require.Equal(t, contract.Event{ID: "ev-1", Type: "user.signedup", Source: "/test", CorrelationID: "corr-1",
		Data: json.RawMessage(`{"user_id":"u-42","email":"a@example.com"}`)}, d.Input)
	require.Equal(t, map[string]any{"ce_id": "ev-1", "ce_type": "user.signedup", "ce_source": "/test"}, d.Memo)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, d.ReusePolicy)
	require.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, d.ConflictPolicy)
	require.Empty(t, d.TaskQueue, "the bridge's task queue")
}

// Only connector syncs run again under the same id: one user, one payment, one commit is one
// workflow for ever; a connector is synced many times, one run at a time.
func TestDefaultReusePolicies(t *testing.T) {
	tbl := defaultTable(t)
	for typ, want := range map[string]enumspb.WorkflowIdReusePolicy{
		"user.signedup":            enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		"stripe.paid":              enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		"blueprint.pushed":         enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		"connector.sync.requested": enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	} {
		data := `{"user_id":"u","email":"e@example.com","payment_id":"p","repository":"r","commit_sha":"abc1234","connector_id":"c"}`
		ds, _, err := tbl.Decide(event(typ, data))
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, want, ds[0].ReusePolicy, typ)
		require.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, ds[0].ConflictPolicy, typ)
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
		{"missing user_id", "user.signedup", `{"email":"ada@example.com"}`, []string{"route user-signedup", "field user_id is missing", "<.data.user_id>"}},
		{"missing payment_id", "stripe.paid", `{"customer_id":"cus_1"}`, []string{"route stripe-paid", "payment_id"}},
		{"missing commit_sha", "blueprint.pushed", `{"repository":"acme/blueprints"}`, []string{"route blueprint-pushed", "commit_sha"}},
		{"data null", "user.signedup", `null`, []string{"route user-signedup", "user_id"}},
		{"data not JSON", "user.signedup", `user_id=u-42`, []string{"user.signedup data is not JSON"}},
		{"data a JSON array", "email.verified", `[{"user_id":"u-42"}]`, []string{"route email-verified", "user_id"}},
		{"no data", "stripe.paid", "", []string{"route stripe-paid", "payment_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := tbl.Decide(event(tt.typ, tt.data))
			require.Error(t, err)
			require.Nil(t, got)
			require.True(t, errors.Is(err, routing.ErrUnroutable), "got %v, want it to wrap ErrUnroutable", err)
			for _, s := range tt.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestDefaultCoversTheContractAndHasSchemas(t *testing.T) {
	tbl := defaultTable(t)
	got := tbl.Patterns()
	slices.Sort(got)
	require.Equal(t, []string{"blueprint.pushed", "connector.sync.requested", "email.verified", "stripe.paid", "user.signedup"}, got)
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	warnings, err := tbl.CheckSchemas(sch)
	require.NoError(t, err)
	require.Empty(t, warnings)
}

const customRoutes = `
unmatched: ignore
routes:
  - name: big-payments
    events: ["stripe.*"]
    filter: 'has(data.amount) && data.amount >= 10000 && event.source == "/stripe"'
    action: start
    workflow: PaymentProcessing
    id: 'big-{{ .data.payment_id }}'
    task_queue: 'payments-{{ .data.currency | lower }}'
    memo: {customer: '{{ .data.customer_id }}'}
    run_timeout: 1h
    id_reuse_policy: allow_duplicate_failed_only
    input: map
    input_map:
      payment: 'data.payment_id'
      cents: 'data.amount'
      vip: 'data.amount > 50000'
  - name: all-stripe
    events: ["stripe.>"]
    action: signal_with_start
    workflow: PaymentProcessing
    signal: 'stripe-{{ .type | replace "." "-" }}'
    id: 'customer-{{ .data.customer_id }}'
    input: data
    rate_limit: {per_second: 5}
    concurrency: {key: '{{ .data.customer_id }}', limit: 2}
  - name: cancel-on-refund
    events: [stripe.refunded]
    action: cancel
    id: 'payment-{{ .data.payment_id }}'
  - name: results
    events: [tenant.created]
    action: ignore
`

func TestDecideCustomRoutes(t *testing.T) {
	tbl := parse(t, customRoutes)

	big := event("stripe.paid", `{"payment_id":"pi_1","customer_id":"cus_1","amount":60000,"currency":"EUR"}`)
	big.SetSource("/stripe")
	ds, misses, err := tbl.Decide(big)
	require.NoError(t, err)
	require.Empty(t, misses)
	require.Equal(t, []brief{
		{"big-payments", "start", "PaymentProcessing", "big-pi_1", ""},
		{"all-stripe", "signal_with_start", "PaymentProcessing", "customer-cus_1", "stripe-stripe-paid"},
	}, briefs(ds), "fan-out: both routes, in file order")
	require.Equal(t, "payments-eur", ds[0].TaskQueue)
	require.Equal(t, "cus_1", ds[0].Memo["customer"])
	require.Equal(t, "ev-1", ds[0].Memo["ce_id"], "the event's origin is always in the memo")
	require.Equal(t, time.Hour, ds[0].RunTimeout)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, ds[0].ReusePolicy)
	require.Equal(t, map[string]any{"payment": "pi_1", "cents": float64(60000), "vip": true}, ds[0].Input)
	in, err := json.Marshal(ds[1].Input)
	require.NoError(t, err)
	require.JSONEq(t, `{"payment_id":"pi_1","customer_id":"cus_1","amount":60000,"currency":"EUR"}`, string(in), "input: data is the data as is")
	require.NotNil(t, ds[1].Limiter)
	require.Equal(t, "all-stripe/cus_1", ds[1].ConcurrencyKey)
	require.Equal(t, 2, ds[1].ConcurrencyLimit)

	small := event("stripe.paid", `{"payment_id":"pi_2","customer_id":"cus_1","amount":100,"currency":"eur"}`)
	ds, misses, err = tbl.Decide(small)
	require.NoError(t, err)
	require.Equal(t, []brief{{"all-stripe", "signal_with_start", "PaymentProcessing", "customer-cus_1", "stripe-stripe-paid"}}, briefs(ds))
	require.Equal(t, []routing.Miss{{Route: "big-payments", Reason: "filter is false"}}, misses, "why the other route did not take it")

	deep := event("stripe.invoice.paid", `{"customer_id":"cus_2"}`)
	ds, misses, err = tbl.Decide(deep)
	require.NoError(t, err)
	require.Empty(t, misses, "stripe.* takes one token only, so big-payments does not even look")
	require.Equal(t, []brief{{"all-stripe", "signal_with_start", "PaymentProcessing", "customer-cus_2", "stripe-stripe-invoice-paid"}}, briefs(ds))

	refund := event("stripe.refunded", `{"payment_id":"pi_1","customer_id":"cus_1"}`)
	ds, misses, err = tbl.Decide(refund)
	require.NoError(t, err)
	require.Equal(t, []routing.Miss{{Route: "big-payments", Reason: "filter is false"}}, misses)
	require.Equal(t, []brief{
		{"all-stripe", "signal_with_start", "PaymentProcessing", "customer-cus_1", "stripe-stripe-refunded"},
		{"cancel-on-refund", "cancel", "", "payment-pi_1", ""},
	}, briefs(ds))

	ds, _, err = tbl.Decide(event("tenant.created", `{}`))
	require.NoError(t, err)
	require.Equal(t, []brief{{"results", "ignore", "", "", ""}}, briefs(ds))
}

func TestFilterErrorsAreMisses(t *testing.T) {
	tbl := parse(t, `
routes:
  - name: needs-plan
    events: [user.signedup]
    filter: 'data.plan == "pro"'
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}'
`)
	ds, misses, err := tbl.Decide(event("user.signedup", `{"user_id":"u"}`))
	require.NoError(t, err)
	require.Empty(t, ds)
	require.Len(t, misses, 1)
	require.Contains(t, misses[0].Reason, "filter error")
	require.Contains(t, misses[0].Reason, "plan")
}

func TestUnmatchedDeadLetter(t *testing.T) {
	tbl := parse(t, `
unmatched: dead_letter
routes:
  - name: pro-only
    events: [user.signedup]
    filter: 'data.plan == "pro"'
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}'
`)
	_, _, err := tbl.Decide(event("user.signedup", `{"user_id":"u","plan":"free"}`))
	require.ErrorIs(t, err, routing.ErrUnroutable)
	require.ErrorContains(t, err, "no route takes user.signedup")
	require.ErrorContains(t, err, "pro-only: filter is false")
	_, _, err = tbl.Decide(event("other.type", `{}`))
	require.ErrorIs(t, err, routing.ErrUnroutable)
}

// Every mistake in a file is reported at once, each with its file, line and route.
func TestParseRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"not YAML", "routes: [", []string{"test.yaml"}},
		{"unknown field", "routes:\n  - name: a\n    evnts: [x]\n", []string{"test.yaml", "line 3", "evnts"}},
		{"no routes", "unmatched: ignore\n", []string{"no routes"}},
		{"bad unmatched", "unmatched: drop\nroutes:\n  - {name: a, events: [x], action: ignore}\n", []string{`unmatched "drop"`}},
		{"bad action", "routes:\n  - {name: a, events: [x], action: launch, id: i}\n", []string{"test.yaml:2: route a", `action "launch"`}},
		{"start without workflow", "routes:\n  - {name: a, events: [x], action: start, id: i}\n", []string{"start needs workflow"}},
		{"unknown workflow", "routes:\n  - {name: a, events: [x], action: start, workflow: Nope, id: i}\n", []string{`workflow "Nope" is not one of flowbridge's`, "task_queue"}},
		{"signal without name", "routes:\n  - {name: a, events: [x], action: signal, id: i}\n", []string{"signal needs signal"}},
		{"no id", "routes:\n  - {name: a, events: [x], action: cancel}\n", []string{"id is required"}},
		{"bad pattern", "routes:\n  - {name: a, events: ['x.>.y'], action: ignore}\n", []string{"'>' may only be the last token"}},
		{"bad CEL", "routes:\n  - {name: a, events: [x], action: ignore, filter: 'data.amount >'}\n", []string{"filter", "Syntax error"}},
		{"CEL not bool", "routes:\n  - {name: a, events: [x], action: ignore, filter: '1 + 2'}\n", []string{"gives int, want bool"}},
		{"bad template", "routes:\n  - {name: a, events: [x], action: cancel, id: '{{ .data.x '}\n", []string{"id:", "unclosed action"}},
		{"bad duration", "routes:\n  - {name: a, events: [x], action: ignore, run_timeout: soon}\n", []string{`"soon" is not a duration`}},
		{"bad policy", "routes:\n  - {name: a, events: [x], action: cancel, id: i, id_reuse_policy: sometimes}\n", []string{`id_reuse_policy "sometimes"`}},
		{"input map without map", "routes:\n  - {name: a, events: [x], action: start, workflow: Cleanup, id: i, input: map}\n", []string{"input: map needs input_map"}},
		{"input on a signal", "routes:\n  - {name: a, events: [x], action: signal, signal: s, id: i, input: data}\n", []string{"input only applies to starts"}},
		{"bad rate", "routes:\n  - {name: a, events: [x], action: cancel, id: i, rate_limit: {per_second: 0}}\n", []string{"per_second must be positive"}},
		{"bad concurrency", "routes:\n  - {name: a, events: [x], action: cancel, id: i, concurrency: {limit: 0}}\n", []string{"limit must be at least 1", "key is required"}},
		{"duplicate names", "routes:\n  - {name: a, events: [x], action: ignore}\n  - {name: a, events: [y], action: ignore}\n", []string{"test.yaml:3: route a: name already used by the route on line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := routing.Parse([]byte(tt.yaml), "test.yaml")
			require.Error(t, err)
			for _, s := range tt.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestParseReportsEveryBadRoute(t *testing.T) {
	_, err := routing.Parse([]byte(`
routes:
  - {name: one, events: [x], action: launch, id: i}
  - {name: two, events: [y], action: start, id: i}
  - {name: fine, events: [z], action: ignore}
`), "f.yaml")
	require.ErrorContains(t, err, "f.yaml:3: route one")
	require.ErrorContains(t, err, "f.yaml:4: route two")
	require.NotContains(t, err.Error(), "route fine")
}

func TestCheckSchemas(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	tbl := parse(t, "routes:\n  - {name: a, events: [user.signedup, nope.nothing, 'stripe.>'], action: ignore}\n")
	warnings, err := tbl.CheckSchemas(sch)
	require.NoError(t, err, "a type without a schema is a warning, not an error")
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "event type nope.nothing has no schema")
	warnings, err = parse(t, "routes:\n  - {name: a, events: ['stripe.*'], action: ignore}\n").CheckSchemas(sch)
	require.NoError(t, err)
	require.Empty(t, warnings, "a wildcard matching a schema is fine")
}

// A data field a route reads — in any template or CEL expression — that the schema of its
// event type does not declare is an error; declared fields, fields of a wildcard route
// declared by one of its types, has() tests and types without a schema are not.
func TestCheckSchemasFields(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	check := func(yaml string) error {
		_, err := parse(t, yaml).CheckSchemas(sch)
		return err
	}
	require.NoError(t, check(`routes:
  - name: ok
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}'
    filter: 'has(data.nickname) || data.email != "" || (has(data.plan) && data.plan == "pro")'
    memo: {name: '{{ .data.name }}'}
  - {name: wild, events: ['stripe.*'], action: ignore, filter: 'data.payment_id != ""'}
  - {name: free, events: [no.schema], action: ignore, filter: 'data.anything == 1'}
`))
	for _, tc := range []struct{ route, want string }{
		{"{name: r, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'o-{{ .data.user_idd }}'}", "id reads data.user_idd, which the schema of user.signedup does not declare"},
		{"{name: r, events: [user.signedup], action: ignore, filter: 'data.mail == \"x\"'}", "filter reads data.mail"},
		{"{name: r, events: [stripe.paid], action: start, workflow: PaymentProcessing, id: 'p', input: map, input_map: {amt: 'data.amount_cents'}}", "input_map.amt reads data.amount_cents"},
		{"{name: r, events: [user.signedup], action: start, workflow: W, task_queue: q, id: 'o', args: ['data.user_id', '{{ .data.emial }}']}", "args[1] reads data.emial"},
		{"{name: r, events: [user.signedup], action: start, workflow: UserOnboarding, id: 'o', memo: {m: '{{ .data.user_id.deeper }}'}}", "memo.m reads data.user_id.deeper"},
	} {
		err := check("routes:\n  - " + tc.route + "\n")
		require.ErrorContains(t, err, tc.want, "route %s", tc.route)
		require.ErrorContains(t, err, "route r")
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	require.NoError(t, os.WriteFile(path, routing.DefaultYAML(), 0o600))
	tbl, err := routing.LoadFile(path)
	require.NoError(t, err)
	require.Len(t, tbl.Patterns(), 5)
	_, err = routing.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "read routes file")
}

// TestCELReadsSharedData pins what CEL sees of the data now that it reads the one decoded
// value (json.Number numbers) instead of a json.Unmarshal of its own: numbers are doubles
// that compare with ints and doubles, nested maps and lists hold the same, and input_map
// hands workflows float64s as before. Templates still print numbers exactly.
func TestCELReadsSharedData(t *testing.T) {
	data := `{"user_id":"u-1","n":1000000,"f":0.5,"neg":-3,"ok":true,"none":null,"tags":["a","b"],` +
		`"items":[{"qty":2},{"qty":5}],"nested":{"deep":{"x":7}}}`
	tests := []struct {
		name   string
		filter string
		want   bool
	}{
		{name: "int literal", filter: "data.n == 1000000", want: true},
		{name: "double literal", filter: "data.n > 999999.5", want: true},
		{name: "fraction", filter: "data.f == 0.5 && data.f < 1", want: true},
		{name: "negative", filter: "data.neg < 0 && data.neg == -3", want: true},
		{name: "a number is a double", filter: "type(data.n) == double", want: true},
		{name: "bool", filter: "data.ok", want: true},
		{name: "null", filter: "data.none == null", want: true},
		{name: "list of strings", filter: `"b" in data.tags && size(data.tags) == 2`, want: true},
		{name: "numbers inside lists", filter: "data.items.exists(i, i.qty > 4) && data.items[0].qty == 2", want: true},
		{name: "numbers inside maps", filter: "data.nested.deep.x == 7", want: true},
		{name: "map equality across int and double", filter: `data.nested.deep == {"x": 7}`, want: true},
		{name: "false", filter: "data.n < 10", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := parse(t, `
routes:
  - name: r
    events: [user.signedup]
    filter: '`+tt.filter+`'
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}-{{ .data.n }}'
    input: map
    input_map: {n: 'data.n', items: 'data.items', f: 'data.f'}
`)
			ds, misses, err := tbl.Decide(event("user.signedup", data))
			require.NoError(t, err)
			if !tt.want {
				require.Empty(t, ds)
				require.Equal(t, []routing.Miss{{Route: "r", Reason: "filter is false"}}, misses)
				return
			}
			require.Len(t, ds, 1, "misses: %v", misses)
			require.Equal(t, "onboarding-u-1-1000000", ds[0].WorkflowID, "templates print numbers exactly")
			want := map[string]any{"n": float64(1000000), "f": 0.5,
				"items": []any{map[string]any{"qty": float64(2)}, map[string]any{"qty": float64(5)}}}
			require.Equal(t, want, ds[0].Input, "got %v, want %v", ds[0].Input, want)
		})
	}
}

// TestDecideDataReadsTheDecodedValue: DecideData routes on the data it is given, decoded
// once by the caller, and does not decode the bytes again.
func TestDecideDataReadsTheDecodedValue(t *testing.T) {
	tbl := parse(t, `
routes:
  - name: r
    events: [user.signedup]
    filter: 'data.plan == "pro"'
    action: start
    workflow: UserOnboarding
    id: 'onboarding-{{ .data.user_id }}'
`)
	ev := event("user.signedup", `{"user_id":"from-bytes","plan":"free"}`)
	decoded := events.Data{Raw: ev.Data(), Value: map[string]any{"user_id": "from-value", "plan": "pro"}}
	ds, _, err := tbl.DecideData(ev, decoded)
	require.NoError(t, err)
	require.Equal(t, []brief{{"r", "start", "UserOnboarding", "onboarding-from-value", ""}}, briefs(ds))

	_, _, err = tbl.DecideData(ev, events.Data{Raw: []byte("x"), Err: errors.New("invalid character 'x'")})
	require.ErrorIs(t, err, routing.ErrUnroutable)
	require.Contains(t, err.Error(), "user.signedup data is not JSON: invalid character 'x'")
}
