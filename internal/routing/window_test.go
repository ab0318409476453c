package routing_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/routing"
)

// isEnvelope says v is an event envelope of the test event (by its JSON), whatever
// package names its type.
func isEnvelope(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var env struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	require.NoError(t, json.Unmarshal(b, &env))
	require.Equal(t, "ev-1", env.ID, "got %s, want an event envelope", b)
	require.NotEmpty(t, env.Type, "got %s, want an event envelope", b)
}

func TestDecideWindows(t *testing.T) {
	tbl := parse(t, `
routes:
  - name: quiet-profile
    events: [user.signedup]
    action: start
    workflow: W
    task_queue: q
    id: 'profile-{{ .data.user_id }}'
    debounce: {key: '{{ .data.user_id }}', quiet: 30s}
  - name: digest
    events: [user.signedup]
    action: signal_with_start
    workflow: W
    task_queue: q
    signal: s
    id: 'digest-{{ .id }}'
    args: [data.user_id]
    batch: {key: '{{ .data.plan }}', size: 10, window: 1m}
  - name: now
    events: [user.signedup]
    action: start
    workflow: W
    task_queue: q
    id: 'now-{{ .data.user_id }}'
`)
	require.Equal(t, map[routing.WindowKind]bool{routing.Debounce: true, routing.Batch: true}, tbl.Windows())
	ds, _, err := tbl.Decide(event("user.signedup", `{"user_id":"u1","plan":"pro"}`))
	require.NoError(t, err)
	require.Len(t, ds, 3)
	w := ds[0].Window
	require.NotNil(t, w)
	require.Equal(t, routing.Debounce, w.Kind)
	require.Equal(t, "u1", w.Key)
	require.Equal(t, 30*time.Second, w.Quiet)
	require.Len(t, w.Hash, 32)
	w = ds[1].Window
	require.Equal(t, routing.Batch, w.Kind)
	require.Equal(t, "pro", w.Key)
	require.Equal(t, 10, w.Size)
	require.Equal(t, time.Minute, w.Wait)
	require.Nil(t, ds[2].Window)

	// The hash names the route and the key: the same key of another route is another
	// window, and another key of the route too.
	other, _, err := tbl.Decide(event("user.signedup", `{"user_id":"u2","plan":"pro"}`))
	require.NoError(t, err)
	require.NotEqual(t, ds[0].Window.Hash, other[0].Window.Hash)
	require.Equal(t, ds[1].Window.Hash, other[1].Window.Hash)

	_, _, err = tbl.Decide(event("user.signedup", `{"user_id":"u1"}`))
	require.ErrorIs(t, err, routing.ErrUnroutable, "a key's field missing")
	require.ErrorContains(t, err, "batch.key")
}

func TestJoinBatch(t *testing.T) {
	tbl := parse(t, `
routes:
  - {name: b, events: [user.signedup], action: signal_with_start, workflow: W, task_queue: q, signal: s, id: 'b-{{ .id }}', args: [data.user_id], batch: {size: 3, window: 1m}}
  - {name: e, events: [email.verified], action: start, workflow: W, task_queue: q, id: 'e-{{ .id }}', batch: {size: 3, window: 1m}}
`)
	var ds []routing.Decision
	for _, u := range []string{"u1", "u2", "u3"} {
		d, _, err := tbl.Decide(event("user.signedup", `{"user_id":"`+u+`"}`))
		require.NoError(t, err)
		ds = append(ds, d[0])
	}
	require.Equal(t, "", ds[0].Window.Key, "no key: one batch for the route")
	j, err := routing.JoinBatch([]string{"a", "b", "c"}, ds)
	require.NoError(t, err)
	require.Nil(t, j.Window)
	require.Equal(t, "b-ev-1", j.WorkflowID)
	require.Equal(t, []string{"a", "b", "c"}, j.BatchOf)
	require.Equal(t, []any{[]any{"u1", "u2", "u3"}}, j.Args, "one argument, the list of each event's args[0]")
	require.Len(t, j.SignalArgs, 1)
	items, ok := j.SignalArgs[0].([]any)
	require.True(t, ok, "got %T", j.SignalArgs[0])
	require.Len(t, items, 3)
	isEnvelope(t, items[0]) // signals carry the envelopes by default

	d, _, err := tbl.Decide(event("email.verified", `{"user_id":"u1"}`))
	require.NoError(t, err)
	j, err = routing.JoinBatch([]string{"a", "b"}, []routing.Decision{d[0], d[0]})
	require.NoError(t, err)
	require.Len(t, j.Args, 1)
	require.Len(t, j.Args[0], 2)
	isEnvelope(t, j.Args[0].([]any)[0]) // input: event gives envelopes
	require.Nil(t, j.SignalArgs)

	_, err = routing.JoinBatch([]string{"a", "b"}, []routing.Decision{d[0], ds[0]})
	require.ErrorContains(t, err, "mixes routes")
}

func TestParseRejectsBadWindows(t *testing.T) {
	start := "routes:\n  - {name: a, events: [x], action: start, workflow: W, task_queue: q, id: i, "
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{"both", start + "debounce: {key: k, quiet: 1s}, batch: {size: 2, window: 1s}}\n", []string{"test.yaml:2: route a", "debounce and batch are mutually exclusive"}},
		{"on a cancel", "routes:\n  - {name: a, events: [x], action: cancel, id: i, debounce: {key: k, quiet: 1s}}\n", []string{"not cancel"}},
		{"debounce without key", start + "debounce: {quiet: 1s}}\n", []string{"debounce.key is required"}},
		{"debounce without quiet", start + "debounce: {key: k}}\n", []string{"debounce.quiet must be a duration above 0"}},
		{"debounce too long", start + "debounce: {key: k, quiet: 25h}}\n", []string{"at most 24h0m0s"}},
		{"bad key template", start + "debounce: {key: '{{ .data.x ', quiet: 1s}}\n", []string{"debounce.key", "unclosed action"}},
		{"batch size 0", start + "batch: {size: 0, window: 1s}}\n", []string{"batch.size must be from 1 to 1000"}},
		{"batch without window", start + "batch: {size: 3}}\n", []string{"batch.window must be a duration above 0"}},
		{"batch with two args", start + "args: [data.a, data.b], batch: {size: 3, window: 1s}}\n", []string{"batch: args must have exactly one entry", "got 2"}},
		{"batch with no args", start + "args: [], batch: {size: 3, window: 1s}}\n", []string{"batch: args must have exactly one entry", "got 0"}},
		{"batch with two signal_args", "routes:\n  - {name: a, events: [x], action: signal, signal: s, id: i, signal_args: [event.id, data.a], batch: {size: 3, window: 1s}}\n",
			[]string{"batch: signal_args must have exactly one entry"}},
		{"unknown field", start + "batch: {size: 3, window: 1s, every: 2}}\n", []string{"every"}},
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
