package setup

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// The comparison of a stream on the server with its settings, for what a single test
// server cannot show (replicas need a cluster) and for the normalizations that keep a
// second run from finding differences that are not there.
func TestStreamDiff(t *testing.T) {
	base := func(edit func(*jetstream.StreamConfig)) jetstream.StreamConfig {
		c := events.StreamSettings{DuplicateWindow: 10 * time.Minute}.Configs()[1] // EVENTS_DLQ
		c.Replicas = 1
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		name        string
		have, want  jetstream.StreamConfig
		wantLines   []string
		wantActions []Action
	}{
		{
			name:        "replicas on a cluster",
			have:        base(nil),
			want:        base(func(c *jetstream.StreamConfig) { c.Replicas = 3 }),
			wantLines:   []string{"stream EVENTS_DLQ: num_replicas 1 -> 3"},
			wantActions: []Action{Update},
		},
		{
			name: "the server's no-limit values are the settings' zeros",
			have: base(func(c *jetstream.StreamConfig) { c.MaxBytes, c.Replicas, c.Placement = -1, 1, nil }),
			want: base(func(c *jetstream.StreamConfig) {
				c.MaxBytes, c.Replicas, c.Placement = 0, 0, &jetstream.Placement{}
			}),
		},
		{
			name: "placement tags in another order",
			have: base(func(c *jetstream.StreamConfig) { c.Placement = &jetstream.Placement{Tags: []string{"ssd", "az1"}} }),
			want: base(func(c *jetstream.StreamConfig) { c.Placement = &jetstream.Placement{Tags: []string{"az1", "ssd"}} }),
		},
		{
			name: "a cluster placement",
			have: base(nil),
			want: base(func(c *jetstream.StreamConfig) {
				c.Placement = &jetstream.Placement{Cluster: "east", Tags: []string{"ssd"}}
			}),
			wantLines:   []string{"stream EVENTS_DLQ: placement none -> cluster:east tags:ssd"},
			wantActions: []Action{Update},
		},
		{
			name: "storage with another change: both are shown, the storage refused",
			have: base(nil),
			want: base(func(c *jetstream.StreamConfig) { c.Storage, c.MaxAge = jetstream.MemoryStorage, 30*24*time.Hour }),
			wantLines: []string{
				"stream EVENTS_DLQ: storage file -> memory: cannot be changed",
				"  NATS cannot change a stream's storage: set EVENTS_STORAGE=file to keep it, or delete the stream (its messages are lost) and run bridge setup again.",
				"stream EVENTS_DLQ: max_age unlimited -> 720h",
			},
			wantActions: []Action{Refuse, Update},
		},
		{
			name:        "retention to work queue",
			have:        base(nil),
			want:        base(func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }),
			wantLines:   []string{"stream EVENTS_DLQ: retention limits -> workqueue: cannot be changed", "  NATS cannot change a stream's retention to or from workqueue: delete the stream (its messages are lost) and run bridge setup again."},
			wantActions: []Action{Refuse},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Plan
			var sent *jetstream.StreamConfig
			diff(&p, KindStream, "stream EVENTS_DLQ", tt.have, tt.want, streamFields(events.DLQStream), func(_ context.Context, c jetstream.StreamConfig) error {
				sent = &c
				return nil
			})
			var lines []string
			var actions []Action
			for _, c := range p.Changes {
				lines = append(lines, c.Lines()...)
				actions = append(actions, c.Action)
			}
			require.Equal(t, tt.wantLines, lines)
			require.Equal(t, tt.wantActions, actions)
			if len(p.Changes) == 0 {
				require.Equal(t, []string{"stream EVENTS_DLQ"}, p.Unchanged)
				return
			}
			if len(p.Refused()) > 0 {
				require.ErrorIs(t, p.Apply(t.Context()), ErrRefused)
				require.Nil(t, sent, "a plan with a refusal sent an update")
				return
			}
			require.NoError(t, p.Apply(t.Context()))
			require.NotNil(t, sent)
			// The update is the server's config with the settings' values of the fields
			// that differ, and nothing else.
			want := tt.have
			for _, f := range streamFields(events.DLQStream) {
				if f.text(tt.have) != f.text(tt.want) {
					f.set(&want, tt.want)
				}
			}
			require.Equal(t, want, *sent)
		})
	}
}
