package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// testCtx bounds a test's calls to NATS so a hang fails the test instead of the run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func streamInfo(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err, "look up stream %s", name)
	info, err := s.Info(ctx)
	require.NoError(t, err, "info of stream %s", name)
	return info
}

func TestEnsureStreamsCreatesBothStreams(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
	}{
		{name: "contract minimum window", window: 2 * time.Minute},
		{name: "default window", window: 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			ctx := testCtx(t)
			require.NoError(t, events.EnsureStreams(ctx, n.JS, tt.window))

			for _, want := range []struct{ stream, subject string }{
				{stream: "EVENTS", subject: "events.>"},
				{stream: "EVENTS_DLQ", subject: "dlq.>"},
			} {
				cfg := streamInfo(t, ctx, n.JS, want.stream).Config
				require.Equal(t, []string{want.subject}, cfg.Subjects, "%s subjects: got %v, want [%v]", want.stream, cfg.Subjects, want.subject)
				require.Equal(t, jetstream.FileStorage, cfg.Storage, "%s storage: got %v, want file", want.stream, cfg.Storage)
				require.Equal(t, tt.window, cfg.Duplicates, "%s duplicate window: got %v, want %v", want.stream, cfg.Duplicates, tt.window)
				require.Equal(t, jetstream.LimitsPolicy, cfg.Retention, "%s retention: got %v, want limits", want.stream, cfg.Retention)
			}
		})
	}
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 5*time.Minute))
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 5*time.Minute), "second call with the same window")
	// A bridge started with another window leaves the existing streams as they are.
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 20*time.Minute), "call with another window")

	for _, name := range []string{"EVENTS", "EVENTS_DLQ", "EVENTS_WAITING", "EVENTS_DEBOUNCE", "EVENTS_BATCH"} {
		got := streamInfo(t, ctx, n.JS, name).Config.Duplicates
		require.Equal(t, 5*time.Minute, got, "%s duplicate window: got %v, want %v", name, got, 5*time.Minute)
	}
	names := n.JS.StreamNames(ctx)
	var all []string
	for s := range names.Name() {
		all = append(all, s)
	}
	require.NoError(t, names.Err())
	require.ElementsMatch(t, []string{"EVENTS", "EVENTS_DLQ", "EVENTS_WAITING", "EVENTS_DEBOUNCE", "EVENTS_BATCH"}, all)
}

func TestEnsureStreamsWithExistingStream(t *testing.T) {
	tests := []struct {
		name     string
		existing jetstream.StreamConfig
		wantErr  []string // nil: EnsureStreams must accept the stream
	}{
		{
			name:     "EVENTS with other subjects",
			existing: jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"orders.>"}, Storage: jetstream.MemoryStorage},
			wantErr:  []string{"stream EVENTS exists with subjects [orders.>]", "want it to include events.>", "NATS_URL"},
		},
		{
			name:     "EVENTS_DLQ with other subjects",
			existing: jetstream.StreamConfig{Name: "EVENTS_DLQ", Subjects: []string{"deadletters.>"}},
			wantErr:  []string{"stream EVENTS_DLQ exists with subjects [deadletters.>]", "want it to include dlq.>"},
		},
		{
			name: "EVENTS configured by an operator",
			existing: jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>", "legacy.>"}, Storage: jetstream.FileStorage,
				Duplicates: 30 * time.Minute, MaxAge: time.Hour},
		},
		{
			name:     "EVENTS as flowbridge would create it",
			existing: events.StreamConfigs(10 * time.Minute)[0],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			ctx := testCtx(t)
			_, err := n.JS.CreateStream(ctx, tt.existing)
			require.NoError(t, err)

			err = events.EnsureStreams(ctx, n.JS, 10*time.Minute)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					require.Contains(t, err.Error(), s)
				}
			} else {
				require.NoError(t, err)
			}

			// The existing stream is never updated or deleted.
			got := streamInfo(t, ctx, n.JS, tt.existing.Name).Config
			require.Equal(t, tt.existing.Subjects, got.Subjects, "subjects: got %v, want %v", got.Subjects, tt.existing.Subjects)
			require.Equal(t, tt.existing.MaxAge, got.MaxAge, "max age: got %v, want %v", got.MaxAge, tt.existing.MaxAge)
			if tt.existing.Duplicates != 0 {
				require.Equal(t, tt.existing.Duplicates, got.Duplicates, "duplicate window: got %v, want %v", got.Duplicates, tt.existing.Duplicates)
			}
		})
	}
}

func TestEnsureStreamsKeepsData(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))

	pub := events.NewPublisher(n.JS)
	ids := []string{testenv.ID("ev-"), testenv.ID("ev-"), testenv.ID("ev-")}
	for _, id := range ids {
		_, err := pub.Publish(ctx, newEvent(t, id, "email.verified", "/test", map[string]any{"user_id": "u-1"}))
		require.NoError(t, err)
	}
	_, err := n.JS.Publish(ctx, "dlq.events.email.verified", []byte(`{"user_id":"u-1"}`))
	require.NoError(t, err)

	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	require.NoError(t, events.EnsureStreams(ctx, n.JS, time.Hour))

	for _, want := range []struct {
		stream string
		msgs   uint64
	}{{stream: "EVENTS", msgs: 3}, {stream: "EVENTS_DLQ", msgs: 1}} {
		got := streamInfo(t, ctx, n.JS, want.stream).State.Msgs
		require.Equal(t, want.msgs, got, "%s messages: got %v, want %v", want.stream, got, want.msgs)
	}
	s, err := n.JS.Stream(ctx, "EVENTS")
	require.NoError(t, err)
	for i, id := range ids {
		raw, err := s.GetMsg(ctx, uint64(i+1))
		require.NoError(t, err)
		ev, err := events.Decode(raw.Header, raw.Data)
		require.NoError(t, err)
		require.Equal(t, id, ev.ID(), "message %d: got id %v, want %v", i+1, ev.ID(), id)
	}
}

// TestDecodeStoredMessages decodes what publishers in other languages put on the stream:
// headers go over the wire and back as they were sent.
func TestDecodeStoredMessages(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))

	tests := []struct {
		name    string
		header  nats.Header
		body    string
		wantID  string
		wantErr string
	}{
		{
			name:   "binary in odd case",
			header: nats.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"odd-1"}, "Ce-Type": {"email.verified"}, "Ce-Source": {"/py"}, "Ce-Correlationid": {"c-1"}},
			body:   `{"user_id":"u-1"}`,
			wantID: "odd-1",
		},
		{
			name:   "structured without content type",
			body:   `{"specversion":"1.0","id":"cli-1","type":"email.verified","source":"nats-cli","data":{"user_id":"u-1"}}`,
			wantID: "cli-1",
		},
		{
			name:    "binary with empty time",
			header:  nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"empty-time"}, "ce-type": {"email.verified"}, "ce-source": {"/js"}, "ce-time": {""}},
			body:    `{"user_id":"u-1"}`,
			wantErr: "is not RFC 3339",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &nats.Msg{Subject: "events.email.verified", Header: tt.header, Data: []byte(tt.body)}
			ack, err := n.JS.PublishMsg(ctx, m)
			require.NoError(t, err)
			s, err := n.JS.Stream(ctx, "EVENTS")
			require.NoError(t, err)
			raw, err := s.GetMsg(ctx, ack.Sequence)
			require.NoError(t, err)

			ev, err := events.Decode(raw.Header, raw.Data)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, events.ErrMalformed)
				require.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantID, ev.ID(), "got id %v, want %v", ev.ID(), tt.wantID)
			require.JSONEq(t, `{"user_id":"u-1"}`, string(ev.Data()))
		})
	}
}

func TestStreamAndConsumerConfigs(t *testing.T) {
	cfgs := events.StreamConfigs(2 * time.Minute)
	require.Len(t, cfgs, 5)
	for _, cfg := range cfgs {
		require.GreaterOrEqual(t, cfg.Duplicates, 2*time.Minute, "%s duplicate window: got %v, want at least 2m", cfg.Name, cfg.Duplicates)
	}
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	c, err := n.JS.CreateOrUpdateConsumer(ctx, "EVENTS", events.BridgeConsumerConfig("bridge", 45*time.Second))
	require.NoError(t, err)
	info := c.CachedInfo()
	require.Equal(t, "bridge", info.Config.Durable)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
	require.Equal(t, "events.>", info.Config.FilterSubject)
	require.Equal(t, events.BridgeMaxAckPending, info.Config.MaxAckPending)
	require.Equal(t, 45*time.Second, info.Config.AckWait)

	w, err := n.JS.CreateOrUpdateConsumer(ctx, events.WaitingStream, events.WaitingConsumerConfig(45*time.Second))
	require.NoError(t, err)
	require.Equal(t, "waiting.>", w.CachedInfo().Config.FilterSubject)
	require.Equal(t, events.WaitingMaxAckPending, w.CachedInfo().Config.MaxAckPending)
	ws, err := n.JS.Stream(ctx, events.WaitingStream)
	require.NoError(t, err)
	require.True(t, ws.CachedInfo().Config.AllowDirect, "a bridge looks parked signals up by direct get")

	for stream, cfg := range map[string]jetstream.ConsumerConfig{
		events.DebounceStream: events.DebounceConsumerConfig(45 * time.Second),
		events.BatchStream:    events.BatchConsumerConfig(45 * time.Second),
	} {
		c, err := n.JS.CreateOrUpdateConsumer(ctx, stream, cfg)
		require.NoError(t, err, stream)
		require.Equal(t, cfg.FilterSubject, c.CachedInfo().Config.FilterSubject)
		require.Equal(t, events.WindowMaxAckPending, c.CachedInfo().Config.MaxAckPending)
	}
	ds, err := n.JS.Stream(ctx, events.DebounceStream)
	require.NoError(t, err)
	require.Equal(t, int64(1), ds.CachedInfo().Config.MaxMsgsPerSubject, "a newer event of a key replaces the older")
	require.Equal(t, jetstream.WorkQueuePolicy, ds.CachedInfo().Config.Retention)
	bs, err := n.JS.Stream(ctx, events.BatchStream)
	require.NoError(t, err)
	require.True(t, bs.CachedInfo().Config.AllowDirect, "a bridge reads a batch by direct get")
}
