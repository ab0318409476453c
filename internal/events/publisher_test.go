package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// startStreams starts a NATS server of the test's own with EVENTS and EVENTS_DLQ in it.
func startStreams(t *testing.T) (*testenv.NATS, jetstream.Stream) {
	t.Helper()
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	s, err := n.JS.Stream(ctx, "EVENTS")
	require.NoError(t, err)
	return n, s
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(testCtx(t))
	require.NoError(t, err)
	return info.State.Msgs
}

func TestPublisherPublish(t *testing.T) {
	tests := []struct {
		name  string
		event func(t *testing.T) events.Event
	}{
		{
			name: "user.signedup",
			event: func(t *testing.T) events.Event {
				return newEvent(t, testenv.ID("ev-"), "user.signedup", "/signup", map[string]any{"user_id": "u-1", "email": "ada@example.com"})
			},
		},
		{
			name: "result event with lineage",
			event: func(t *testing.T) events.Event {
				ev := newEvent(t, testenv.ID("ev-"), "onboarding.completed", "flowbridge/worker", map[string]any{"user_id": "u-1"})
				ev.SetSubject("onboarding-u-1")
				ev.SetTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				ev.SetExtension(events.ExtCorrelationID, "corr-1")
				ev.SetExtension(events.ExtCausationID, "ev-0")
				return ev
			},
		},
		{
			name:  "no data",
			event: func(t *testing.T) events.Event { return newEvent(t, testenv.ID("ev-"), "report.tick", "/cron", nil) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, s := startStreams(t)
			ctx := testCtx(t)
			ev := tt.event(t)

			res, err := events.NewPublisher(n.JS).Publish(ctx, ev)
			require.NoError(t, err)
			require.False(t, res.Duplicate, "got Duplicate=true for a first publish")
			require.NotZero(t, res.Sequence)

			raw, err := s.GetMsg(ctx, res.Sequence)
			require.NoError(t, err)
			wantSubject := "events." + ev.Type()
			require.Equal(t, wantSubject, raw.Subject, "subject: got %v, want %v", raw.Subject, wantSubject)
			require.Equal(t, ev.ID(), raw.Header.Get("Nats-Msg-Id"), "Nats-Msg-Id: got %v, want %v", raw.Header.Get("Nats-Msg-Id"), ev.ID())

			got, err := events.Decode(raw.Header, raw.Data)
			require.NoError(t, err)
			want := wantEvent{ID: ev.ID(), Type: ev.Type(), Source: ev.Source(), Subject: ev.Subject(), Time: ev.Time(),
				Extensions: ev.Extensions(), Data: string(ev.Data())}
			if want.Extensions == nil {
				want.Extensions = map[string]any{}
			}
			requireEvent(t, want, got)
		})
	}
}

func TestPublisherPublishReadByBridgeConsumer(t *testing.T) {
	n, _ := startStreams(t)
	ctx := testCtx(t)
	ev := newEvent(t, testenv.ID("ev-"), "email.verified", "/verify", map[string]any{"user_id": "u-1"})
	_, err := events.NewPublisher(n.JS).Publish(ctx, ev)
	require.NoError(t, err)

	c, err := n.JS.CreateOrUpdateConsumer(ctx, "EVENTS", events.BridgeConsumerConfig(testenv.ID("bridge-"), 30*time.Second))
	require.NoError(t, err)
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	require.NoError(t, err)
	var got []events.Event
	for m := range batch.Messages() {
		ev, err := events.Decode(m.Headers(), m.Data())
		require.NoError(t, err)
		got = append(got, ev)
		require.NoError(t, m.Ack())
	}
	require.NoError(t, batch.Error())
	require.Len(t, got, 1)
	require.Equal(t, ev.ID(), got[0].ID(), "got id %v, want %v", got[0].ID(), ev.ID())
	require.JSONEq(t, `{"user_id":"u-1"}`, string(got[0].Data()))
}

func TestPublisherDropsDuplicates(t *testing.T) {
	n, s := startStreams(t)
	ctx := testCtx(t)
	pub := events.NewPublisher(n.JS)
	id := testenv.ID("ev-")

	first, err := pub.Publish(ctx, newEvent(t, id, "stripe.paid", "/stripe", map[string]any{"payment_id": "pi_1"}))
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	tests := []struct {
		name string
		data map[string]any
	}{
		{name: "same event again", data: map[string]any{"payment_id": "pi_1"}},
		{name: "same id with other data", data: map[string]any{"payment_id": "pi_2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pub.Publish(ctx, newEvent(t, id, "stripe.paid", "/stripe", tt.data))
			require.NoError(t, err)
			require.True(t, res.Duplicate, "got Duplicate=false, want true for a second publish of id %s", id)
			require.Equal(t, first.Sequence, res.Sequence, "sequence: got %v, want the first publish's %v", res.Sequence, first.Sequence)
			got := streamMsgs(t, s)
			require.Equal(t, uint64(1), got, "messages in EVENTS: got %v, want 1", got)
		})
	}

	raw, err := s.GetMsg(ctx, first.Sequence)
	require.NoError(t, err)
	require.JSONEq(t, `{"payment_id":"pi_1"}`, string(raw.Data), "the stream must keep the first event")

	other, err := pub.Publish(ctx, newEvent(t, testenv.ID("ev-"), "stripe.paid", "/stripe", map[string]any{"payment_id": "pi_1"}))
	require.NoError(t, err)
	require.False(t, other.Duplicate, "another id is not a duplicate")
	require.Equal(t, uint64(2), streamMsgs(t, s))
}

// An invalid event is refused before anything is sent: an out-of-bounds type in
// particular never reaches the server, which would close the connection over a subject
// longer than its control-line limit. The connection stays up and takes the next event.
func TestPublisherRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name    string
		event   events.Event
		wantErr string
	}{
		{name: "missing id", event: newEvent(t, "", "user.signedup", "/signup", map[string]any{"user_id": "u-1"}), wantErr: "id"},
		{name: "missing source", event: newEvent(t, "ev-1", "user.signedup", "", nil), wantErr: "source"},
		{name: "type with space", event: newEvent(t, "ev-1", "user signedup", "/signup", nil), wantErr: `type "user signedup"`},
		{name: "wildcard type", event: newEvent(t, "ev-1", "user.*", "/signup", nil), wantErr: `type "user.*"`},
		{name: "type of 5000 bytes", event: newEvent(t, "ev-1", "user."+strings.Repeat("x", 4995), "/signup", nil), wantErr: "is 5000 bytes long: at most 255"},
		{name: "id with NUL", event: newEvent(t, "ev\x00-1", "user.signedup", "/signup", nil), wantErr: "U+0000"},
		{name: "source of 1025 bytes", event: newEvent(t, "ev-1", "user.signedup", "/"+strings.Repeat("s", 1024), nil), wantErr: "1025 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, s := startStreams(t)
			pub := events.NewPublisher(n.JS)
			res, err := pub.Publish(testCtx(t), tt.event)
			require.Error(t, err)
			require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
			require.Contains(t, err.Error(), tt.wantErr)
			require.Zero(t, res)
			got := streamMsgs(t, s)
			require.Zero(t, got, "messages in EVENTS: got %v, want 0", got)

			require.Equal(t, nats.CONNECTED, n.Conn.Status(), "connection: got %v, want CONNECTED", n.Conn.Status())
			_, err = pub.Publish(testCtx(t), newEvent(t, testenv.ID("ev-"), "user.signedup", "/signup", nil))
			require.NoError(t, err, "a good event after the refused one")
			require.Equal(t, uint64(1), streamMsgs(t, s))
		})
	}
}

func TestPublisherWithoutStreamIsTransient(t *testing.T) {
	n := testenv.StartNATS(t)
	id := testenv.ID("ev-")
	_, err := events.NewPublisher(n.JS).Publish(testCtx(t), newEvent(t, id, "user.signedup", "/signup", map[string]any{"user_id": "u-1"}))
	require.Error(t, err)
	require.False(t, errors.Is(err, events.ErrMalformed), "got %v, want a transient error (not ErrMalformed)", err)
	require.Contains(t, err.Error(), "publish events.user.signedup id "+id)
}

// TestPublisherConcurrentPublishesEachAcked: many publishes at once share the async
// window; each that returns nil is stored at the sequence it reports, under its own id,
// and one the stream refuses (here: over the stream's message size) fails alone without
// failing the others.
func TestPublisherConcurrentPublishesEachAcked(t *testing.T) {
	const total, every = 300, 10 // every 10th event is too large for the stream
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	s, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: events.Stream, Subjects: []string{events.StreamSubjects}, MaxMsgSize: 2048})
	require.NoError(t, err)
	pub := events.NewPublisher(n.JS)

	type outcome struct {
		id  string
		res events.PublishResult
		err error
	}
	out := make(chan outcome, total)
	for i := range total {
		id := testenv.ID("ev-")
		data := map[string]any{"user_id": "u", "note": ""}
		if i%every == 0 {
			data["note"] = strings.Repeat("x", 4096)
		}
		ev := newEvent(t, id, "user.signedup", "/signup", data)
		go func() {
			res, err := pub.Publish(ctx, ev)
			out <- outcome{id: id, res: res, err: err}
		}()
	}
	seqs := map[uint64]string{}
	var failed int
	for range total {
		o := <-out
		if o.err != nil {
			failed++
			require.False(t, errors.Is(o.err, events.ErrMalformed), "got %v, want a transient error", o.err)
			require.Contains(t, o.err.Error(), "id "+o.id)
			continue
		}
		require.NotContains(t, seqs, o.res.Sequence, "two publishes acked at one sequence")
		seqs[o.res.Sequence] = o.id
	}
	require.Equal(t, total/every, failed, "failed publishes: got %d, want the %d oversized ones", failed, total/every)
	require.Equal(t, uint64(len(seqs)), streamMsgs(t, s), "stream holds %d events, want the %d acked", streamMsgs(t, s), len(seqs))
	for seq, id := range seqs {
		raw, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.Equal(t, id, raw.Header.Get(events.HeaderMsgID), "message at sequence %d: got id %s, want %s", seq, raw.Header.Get(events.HeaderMsgID), id)
	}
}

// TestPublisherContextEnds: a publish whose context has ended sends nothing; one whose
// context ends while it awaits its ack (here a subscriber that never answers stands where
// the stream would) fails with the context's error rather than waiting on.
func TestPublisherContextEnds(t *testing.T) {
	n, s := startStreams(t)
	pub := events.NewPublisher(n.JS)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	_, err := pub.Publish(ctx, newEvent(t, testenv.ID("ev-"), "user.signedup", "/signup", map[string]any{"user_id": "u-1"}))
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, n.Conn.Flush())
	require.Zero(t, streamMsgs(t, s), "a publish with an ended context was stored")

	require.NoError(t, n.JS.DeleteStream(testCtx(t), events.Stream))
	sub, err := n.Conn.SubscribeSync(events.StreamSubjects) // takes the publish, never acks it
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, n.Conn.Flush())
	ctx, cancel = context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	_, err = pub.Publish(ctx, newEvent(t, testenv.ID("ev-"), "user.signedup", "/signup", map[string]any{"user_id": "u-1"}))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "waiting for the stream's ack")
	_, err = sub.NextMsg(5 * time.Second)
	require.NoError(t, err, "the publish was not sent")
}
