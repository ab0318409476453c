package routing_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/routing"
)

func TestDecideArgs(t *testing.T) {
	tbl := parse(t, `
routes:
  - name: ts-onboarding
    events: [user.signedup]
    action: start
    workflow: userOnboardingWorkflow
    task_queue: typescript
    id: 'ts-onboarding-{{ .data.user_id }}'
    args:
      - data.user_id
      - 'mailto:{{ .data.email }}'
      - '{"plan": has(data.plan) ? data.plan : "free", "seats": 3}'
      - {input: data}
      - {input: event}
  - name: ts-verified
    events: [email.verified]
    action: signal_with_start
    workflow: userOnboardingWorkflow
    task_queue: typescript
    signal: emailVerified
    id: 'ts-onboarding-{{ .data.user_id }}'
    args: []
    signal_args: [event.id, data.user_id]
`)
	ds, _, err := tbl.Decide(event("user.signedup", `{"user_id":"u1","email":"u1@example.com","n":12345678901}`))
	require.NoError(t, err)
	require.Len(t, ds, 1)
	d := ds[0]
	require.Nil(t, d.Input, "args replace input")
	require.Len(t, d.Args, 5)
	require.Equal(t, "u1", d.Args[0])
	require.Equal(t, "mailto:u1@example.com", d.Args[1])
	require.Equal(t, map[string]any{"plan": "free", "seats": float64(3)}, d.Args[2])
	raw, err := json.Marshal(d.Args[3])
	require.NoError(t, err)
	require.JSONEq(t, `{"user_id":"u1","email":"u1@example.com","n":12345678901}`, string(raw), "input: data is the data as it is")
	env, ok := d.Args[4].(contract.Event)
	require.True(t, ok, "got %T, want contract.Event", d.Args[4])
	require.Equal(t, "ev-1", env.ID)
	require.Equal(t, "corr-1", env.CorrelationID)

	ds, _, err = tbl.Decide(event("email.verified", `{"user_id":"u1"}`))
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.NotNil(t, ds[0].Args, "args: [] is no arguments, not the default input")
	require.Empty(t, ds[0].Args)
	require.Equal(t, []any{"ev-1", "u1"}, ds[0].SignalArgs)
	require.Nil(t, ds[0].SignalArg)
}

func TestDecideArgsDefaults(t *testing.T) {
	ds, _, err := defaultTable(t).Decide(event("email.verified", `{"user_id":"u1"}`))
	require.NoError(t, err)
	require.Nil(t, ds[0].SignalArgs, "without signal_args a signal carries the event")
	require.IsType(t, contract.Event{}, ds[0].SignalArg)
	ds, _, err = defaultTable(t).Decide(event("user.signedup", `{"user_id":"u1","email":"e@x"}`))
	require.NoError(t, err)
	require.Nil(t, ds[0].Args)
	require.IsType(t, contract.Event{}, ds[0].Input)
}

func TestDecideArgsMissingField(t *testing.T) {
	tbl := parse(t, `
routes:
  - {name: a, events: [user.signedup], action: start, workflow: W, task_queue: q, id: 'w-{{ .data.user_id }}', args: [data.user_id, data.plan]}
  - {name: b, events: [email.verified], action: start, workflow: W, task_queue: q, id: 'w-{{ .data.user_id }}', args: ['{{ .data.plan }}']}
`)
	_, _, err := tbl.Decide(event("user.signedup", `{"user_id":"u1"}`))
	require.ErrorIs(t, err, routing.ErrUnroutable)
	require.ErrorContains(t, err, "args[1]")
	require.ErrorContains(t, err, "plan")
	_, _, err = tbl.Decide(event("email.verified", `{"user_id":"u1"}`))
	require.ErrorIs(t, err, routing.ErrUnroutable)
	require.ErrorContains(t, err, "args[0]: field plan is missing")
}

func TestParseRejectsBadArgs(t *testing.T) {
	start := "routes:\n  - {name: a, events: [x], action: start, workflow: W, task_queue: q, id: i, "
	signal := "routes:\n  - {name: a, events: [x], action: signal, signal: s, id: i, "
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"args and input", start + "input: data, args: [data]}\n", []string{"test.yaml:2: route a", "args and input are mutually exclusive"}},
		{"args and input_map", start + "input: map, input_map: {a: data.a}, args: [data]}\n", []string{"args and input are mutually exclusive"}},
		{"args on a signal", signal + "args: [data]}\n", []string{"args: only start and signal_with_start", "signal_args"}},
		{"args on a cancel", "routes:\n  - {name: a, events: [x], action: cancel, id: i, args: [data]}\n", []string{"args: only start and signal_with_start"}},
		{"signal_args on a start", start + "signal_args: [event.id]}\n", []string{"signal_args: only signal and signal_with_start"}},
		{"bad CEL arg", start + "args: [data.x, 'data.y +']}\n", []string{"args[1]", "Syntax error"}},
		{"bad template arg", start + "args: ['{{ .data.x ']}\n", []string{"args[0]", "unclosed action"}},
		{"empty arg", start + "args: ['']}\n", []string{"args[0] is empty"}},
		{"bad input arg", start + "args: [{input: map}]}\n", []string{`args[0]: input "map" is not event or data`}},
		{"unknown arg form", start + "args: [{cel: data.x}]}\n", []string{"an argument is a string", "{input: event}"}},
		{"signal without the event id", signal + "signal_args: [data.user_id, '{{ .data.x }}', {input: data}]}\n", []string{"signal_args: no argument carries the event id"}},
		{"route sets a flowbridge attribute", start + "search_attributes: {FlowbridgeCorrelationId: x}}\n", []string{"search_attributes.FlowbridgeCorrelationId: flowbridge sets it"}},
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

func TestSignalArgsThatCarryTheEventID(t *testing.T) {
	for _, arg := range []string{`{input: event}`, `event.id`, `'event["id"]'`, `'{"id": event.id, "user": data.user_id}'`, `event`,
		`'{{ .id }}'`, `'{{ .data.user_id }}/{{ .id }}'`, `'{{ if .subject }}{{ .id }}{{ end }}'`, `'{{ .id | upper }}'`} {
		t.Run(arg, func(t *testing.T) {
			_, err := routing.Parse([]byte("routes:\n  - {name: a, events: [x], action: signal, signal: s, id: i, signal_args: [data, "+arg+"]}\n"), "test.yaml")
			require.NoError(t, err)
		})
	}
}
