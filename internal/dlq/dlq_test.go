package dlq

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// fixture is one test's NATS server with EVENTS and EVENTS_DLQ, and a Queue on it.
type fixture struct {
	t *testing.T
	n *testenv.NATS
	q *Queue
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 10*time.Minute))
	return &fixture{t: t, n: n, q: New(n.JS)}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// binaryEvent is an event in binary content mode, as a publisher sends it to EVENTS.
func binaryEvent(id, typ, data string) *nats.Msg {
	m := nats.NewMsg(events.Subject(typ))
	m.Header.Set("ce-specversion", "1.0")
	m.Header.Set("ce-id", id)
	m.Header.Set("ce-type", typ)
	m.Header.Set("ce-source", "/tests")
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set("X-Trace", "trace-"+id)
	m.Header.Set(events.HeaderMsgID, id)
	m.Data = []byte(data)
	return m
}

// structuredEvent is an event in structured content mode.
func structuredEvent(id, typ, data string) *nats.Msg {
	m := nats.NewMsg(events.Subject(typ))
	m.Header.Set("Content-Type", "application/cloudevents+json")
	m.Header.Set(events.HeaderMsgID, id)
	m.Data = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"type":%q,"source":"/tests","data":%s}`, id, typ, data)
	return m
}

// deadLetter stores m on EVENTS_DLQ the way the bridge does (internal/bridge/deadletter.go)
// and returns it as stored.
func (fx *fixture) deadLetter(m *nats.Msg, typ, reason string) DeadLetter {
	fx.t.Helper()
	dl := nats.NewMsg(events.DLQSubject(typ))
	for k, vs := range m.Header {
		dl.Header[k] = append([]string(nil), vs...)
	}
	dl.Header.Set(events.HeaderError, reason)
	dl.Header.Set(events.HeaderStreamSeq, "7")
	dl.Header.Set(events.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if dl.Header.Get(events.HeaderMsgID) == "" {
		dl.Header.Set(events.HeaderMsgID, testenv.ID("EVENTS-"))
	}
	dl.Data = m.Data
	ack, err := fx.n.JS.PublishMsg(testCtx(fx.t), dl, jetstream.WithExpectStream(events.DLQStream))
	require.NoError(fx.t, err)
	require.False(fx.t, ack.Duplicate, "dead letter %s stored", dl.Header.Get(events.HeaderMsgID))
	got, err := fx.q.Get(testCtx(fx.t), ack.Sequence)
	require.NoError(fx.t, err)
	return got
}

// msgs returns what is on a stream, in order.
func (fx *fixture) msgs(stream string) []*jetstream.RawStreamMsg {
	fx.t.Helper()
	ctx := testCtx(fx.t)
	s, err := fx.n.JS.Stream(ctx, stream)
	require.NoError(fx.t, err)
	info, err := s.Info(ctx)
	require.NoError(fx.t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func (fx *fixture) dlqSeqs() []uint64 {
	fx.t.Helper()
	var out []uint64
	for _, m := range fx.msgs(events.DLQStream) {
		out = append(out, m.Sequence)
	}
	return out
}

func seqsOf(dls []DeadLetter) []uint64 {
	out := []uint64{}
	for _, dl := range dls {
		out = append(out, dl.Seq)
	}
	return out
}

func TestList(t *testing.T) {
	fx := newFixture(t)
	early := fx.deadLetter(binaryEvent("e-early", "email.verified", `{"user_id":"u1"}`), "email.verified",
		"signal email-verified: workflow onboarding-u1 did not exist 10m0s after the event was stored (BRIDGE_SIGNAL_WAIT)")
	schema := fx.deadLetter(structuredEvent("e-schema", "user.signedup", `{"user_id":"u2"}`), "user.signedup",
		"malformed event: /: missing property 'email'")
	garbage := nats.NewMsg("events.user.signedup")
	garbage.Data = []byte("\x00\x01 not an event")
	unknown := fx.deadLetter(garbage, "", "malformed event: no ce-specversion header and not a structured event")
	closed := fx.deadLetter(binaryEvent("e-closed", "email.verified", `{"user_id":"u3"}`), "email.verified",
		"signal email-verified: workflow onboarding-u3 is already closed")
	require.True(t, early.StoredAt.Before(schema.StoredAt) && schema.StoredAt.Before(unknown.StoredAt) && unknown.StoredAt.Before(closed.StoredAt),
		"stored times increase: %v %v %v %v", early.StoredAt, schema.StoredAt, unknown.StoredAt, closed.StoredAt)

	t.Run("fields", func(t *testing.T) {
		got, err := fx.q.List(testCtx(t), Filter{})
		require.NoError(t, err)
		require.Equal(t, []DeadLetter{early, schema, unknown, closed}, got)
		require.Equal(t, "email.verified", early.Type)
		require.Equal(t, "e-early", early.EventID, "from the ce-id header")
		require.Equal(t, "e-schema", schema.EventID, "from the structured body")
		require.Equal(t, TypeUnknown, unknown.Type)
		require.Empty(t, unknown.EventID)
		require.Equal(t, "dlq.events.unknown", unknown.Subject)
		require.Contains(t, closed.Reason, "already closed")
		require.Equal(t, `{"user_id":"u3"}`, string(closed.Data))
		require.Equal(t, "trace-e-closed", closed.Header.Get("X-Trace"))
	})

	tests := []struct {
		name   string
		filter Filter
		want   []DeadLetter
	}{
		{name: "type", filter: Filter{Type: "email.verified"}, want: []DeadLetter{early, closed}},
		{name: "type wildcard", filter: Filter{Type: "user.*"}, want: []DeadLetter{schema}},
		{name: "type full wildcard", filter: Filter{Type: ">"}, want: []DeadLetter{early, schema, unknown, closed}},
		{name: "type unknown", filter: Filter{Type: TypeUnknown}, want: []DeadLetter{unknown}},
		{name: "type without dead letters", filter: Filter{Type: "stripe.paid"}, want: nil},
		{name: "reason ignores case", filter: Filter{Reason: "DID NOT EXIST"}, want: []DeadLetter{early}},
		{name: "reason shared", filter: Filter{Reason: "malformed"}, want: []DeadLetter{schema, unknown}},
		{name: "type and reason", filter: Filter{Type: "email.verified", Reason: "closed"}, want: []DeadLetter{closed}},
		{name: "reason without match", filter: Filter{Reason: "stripe"}, want: nil},
		{name: "since is inclusive", filter: Filter{Since: schema.StoredAt}, want: []DeadLetter{schema, unknown, closed}},
		{name: "until is exclusive", filter: Filter{Until: unknown.StoredAt}, want: []DeadLetter{early, schema}},
		{name: "since and until", filter: Filter{Since: schema.StoredAt, Until: closed.StoredAt}, want: []DeadLetter{schema, unknown}},
		{name: "since after the last", filter: Filter{Since: closed.StoredAt.Add(time.Millisecond)}, want: nil},
		{name: "since with type", filter: Filter{Type: "email.verified", Since: schema.StoredAt}, want: []DeadLetter{closed}},
		{name: "limit", filter: Filter{Limit: 2}, want: []DeadLetter{early, schema}},
		{name: "limit after filtering", filter: Filter{Type: "email.verified", Limit: 1}, want: []DeadLetter{early}},
		{name: "limit above count", filter: Filter{Limit: 10}, want: []DeadLetter{early, schema, unknown, closed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fx.q.List(testCtx(t), tt.filter)
			require.NoError(t, err)
			require.Equal(t, seqsOf(tt.want), seqsOf(got))
		})
	}
}

func TestListReadsASnapshotAcrossBatches(t *testing.T) {
	fx := newFixture(t)
	const n = 600 // more than one batch of the consumer
	for i := range n {
		typ := "email.verified"
		if i%3 == 0 {
			typ = "user.signedup"
		}
		fx.deadLetter(binaryEvent(fmt.Sprintf("e-%d", i), typ, `{}`), typ, "reason")
	}
	all, err := fx.q.List(testCtx(t), Filter{})
	require.NoError(t, err)
	require.Len(t, all, n)
	for i, dl := range all {
		require.Equal(t, fmt.Sprintf("e-%d", i), dl.EventID, "oldest first")
	}
	signups, err := fx.q.List(testCtx(t), Filter{Type: "user.signedup"})
	require.NoError(t, err)
	require.Len(t, signups, n/3)
}

func TestListErrors(t *testing.T) {
	t.Run("no stream", func(t *testing.T) {
		n := testenv.StartNATS(t)
		_, err := New(n.JS).List(testCtx(t), Filter{})
		require.ErrorIs(t, err, ErrNoStream)
		_, err = New(n.JS).Get(testCtx(t), 1)
		require.ErrorIs(t, err, ErrNoStream)
	})
	t.Run("empty stream", func(t *testing.T) {
		got, err := newFixture(t).q.List(testCtx(t), Filter{Type: "email.verified", Reason: "x"})
		require.NoError(t, err)
		require.Empty(t, got)
	})

	now := time.Now()
	tests := []struct {
		name   string
		filter Filter
		want   string
	}{
		{name: "negative limit", filter: Filter{Limit: -1}, want: "limit -1 is negative"},
		{name: "since not before until", filter: Filter{Since: now, Until: now}, want: "is not before until"},
		{name: "empty token", filter: Filter{Type: "email..verified"}, want: "dot-separated tokens"},
		{name: "space", filter: Filter{Type: "email verified"}, want: "dot-separated tokens"},
		{name: "> not last", filter: Filter{Type: ">.verified"}, want: "'>' may only be the last token"},
		{name: "partial wildcard", filter: Filter{Type: "email.ver*"}, want: "must be whole tokens"},
	}
	fx := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fx.q.List(testCtx(t), tt.filter)
			require.ErrorIs(t, err, ErrInvalidFilter)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestGet(t *testing.T) {
	fx := newFixture(t)
	want := fx.deadLetter(structuredEvent("e-1", "user.signedup", `{"user_id":"u1"}`), "user.signedup", "malformed event: /: missing property 'email'")
	got, err := fx.q.Get(testCtx(t), want.Seq)
	require.NoError(t, err)
	require.Equal(t, "dlq.events.user.signedup", got.Subject)
	require.Equal(t, "user.signedup", got.Type)
	require.Equal(t, "e-1", got.EventID)
	require.Equal(t, "malformed event: /: missing property 'email'", got.Reason)
	require.Equal(t, "application/cloudevents+json", got.Header.Get("Content-Type"))
	require.Equal(t, "7", got.Header.Get(events.HeaderStreamSeq))
	require.JSONEq(t, `{"specversion":"1.0","id":"e-1","type":"user.signedup","source":"/tests","data":{"user_id":"u1"}}`, string(got.Data))
	require.WithinDuration(t, time.Now(), got.StoredAt, time.Minute)

	_, err = fx.q.Get(testCtx(t), want.Seq+1)
	require.ErrorIs(t, err, ErrNotFound)
}

// Replay puts events back on EVENTS as they were published, with the same CloudEvent id
// and a new Nats-Msg-Id, even though EVENTS still holds the original within its duplicate
// window; dead letters that were replayed leave EVENTS_DLQ, unknown ones stay.
func TestReplay(t *testing.T) {
	fx := newFixture(t)
	binary := binaryEvent("e-bin", "email.verified", `{"user_id":"u1"}`)
	structured := structuredEvent("e-str", "user.signedup", `{"user_id":"u2","email":"u2@example.com"}`)
	for _, m := range []*nats.Msg{binary, structured} {
		_, err := fx.n.JS.PublishMsg(testCtx(t), m) // the original, still in the duplicate window
		require.NoError(t, err)
	}
	dlBinary := fx.deadLetter(binary, "email.verified", "signal email-verified: workflow onboarding-u1 did not exist")
	dlStructured := fx.deadLetter(structured, "user.signedup", "temporal said no")
	garbage := nats.NewMsg("events.x")
	garbage.Data = []byte("garbage")
	dlUnknown := fx.deadLetter(garbage, "", "malformed event: no ce-specversion header")

	got, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{})
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, []string{"events.email.verified", "events.user.signedup", ""}, []string{got[0].To, got[1].To, got[2].To})
	require.Equal(t, fmt.Sprintf("replay-%d-e-bin", dlBinary.Seq), got[0].MsgID)
	require.Equal(t, fmt.Sprintf("replay-%d-e-str", dlStructured.Seq), got[1].MsgID)
	for _, r := range got[:2] {
		require.Empty(t, r.Skipped)
		require.NotZero(t, r.EventsSeq)
		require.False(t, r.Duplicate)
	}
	require.Equal(t, dlUnknown.Seq, got[2].Seq)
	require.Contains(t, got[2].Skipped, "type could not be read")
	require.Zero(t, got[2].EventsSeq)

	require.Equal(t, []uint64{dlUnknown.Seq}, fx.dlqSeqs(), "replayed dead letters leave EVENTS_DLQ; the unknown one stays")

	onEvents := fx.msgs(events.Stream)
	require.Len(t, onEvents, 4, "the two originals and the two replays")
	for i, tt := range []struct {
		orig *nats.Msg
		dl   DeadLetter
	}{{binary, dlBinary}, {structured, dlStructured}} {
		replayed := onEvents[2+i]
		require.Equal(t, tt.orig.Subject, replayed.Subject)
		require.Equal(t, tt.orig.Data, replayed.Data, "original body")
		want := nats.Header{}
		for k, vs := range tt.orig.Header {
			want[k] = vs
		}
		want.Set(events.HeaderMsgID, fmt.Sprintf("replay-%d-%s", tt.dl.Seq, tt.dl.EventID))
		want.Set(HeaderReplayedFrom, fmt.Sprint(tt.dl.Seq))
		want.Set("Nats-Expected-Stream", events.Stream) // the server keeps Replay's own publish control
		require.Equal(t, want, replayed.Header, "original headers, Flowbridge-* stripped, a new Nats-Msg-Id")
		ev, err := events.Decode(replayed.Header, replayed.Data)
		require.NoError(t, err)
		require.Equal(t, tt.dl.EventID, ev.ID(), "same CloudEvent id")
	}
}

// A dead letter replayed twice is published once: the first replay deletes it, and if
// it did not get to (a crash between publish and delete), EVENTS drops the second publish
// by its deterministic Nats-Msg-Id.
func TestReplayTwicePublishesOnce(t *testing.T) {
	t.Run("sequentially", func(t *testing.T) {
		fx := newFixture(t)
		fx.deadLetter(binaryEvent("e-1", "email.verified", `{"user_id":"u1"}`), "email.verified", "did not exist")
		first, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{})
		require.NoError(t, err)
		require.Len(t, first, 1)
		second, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{})
		require.NoError(t, err)
		require.Empty(t, second)
		require.Len(t, fx.msgs(events.Stream), 1)
		require.Empty(t, fx.dlqSeqs())
	})
	t.Run("after a crash before the delete", func(t *testing.T) {
		fx := newFixture(t)
		dl := fx.deadLetter(binaryEvent("e-1", "email.verified", `{"user_id":"u1"}`), "email.verified", "did not exist")
		crashed := plan(dl)
		_, err := fx.n.JS.PublishMsg(testCtx(t), crashed.message(), jetstream.WithExpectStream(events.Stream))
		require.NoError(t, err)

		got, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.True(t, got[0].Duplicate, "EVENTS already held the replay")
		require.Len(t, fx.msgs(events.Stream), 1, "published once")
		require.Empty(t, fx.dlqSeqs(), "and the dead letter is gone")
	})
}

func TestReplayDryRunChangesNothing(t *testing.T) {
	fx := newFixture(t)
	dl := fx.deadLetter(binaryEvent("e-1", "email.verified", `{"user_id":"u1"}`), "email.verified", "did not exist")
	fx.deadLetter(nats.NewMsg("events.x"), "", "malformed")
	before := fx.dlqSeqs()

	got, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{DryRun: true})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "events.email.verified", got[0].To)
	require.Equal(t, fmt.Sprintf("replay-%d-e-1", dl.Seq), got[0].MsgID)
	require.Zero(t, got[0].EventsSeq)
	require.NotEmpty(t, got[1].Skipped)

	require.Equal(t, before, fx.dlqSeqs())
	require.Empty(t, fx.msgs(events.Stream))
}

func TestReplayFilterAndProgress(t *testing.T) {
	fx := newFixture(t)
	for i := range 5 {
		fx.deadLetter(binaryEvent(fmt.Sprintf("e-%d", i), "email.verified", `{}`), "email.verified", "did not exist")
	}
	keep := fx.deadLetter(binaryEvent("e-keep", "user.signedup", `{}`), "user.signedup", "schema")

	type call struct{ done, total int }
	var calls []call
	got, err := fx.q.Replay(testCtx(t), Filter{Type: "email.verified"}, ReplayOptions{
		Progress: func(done, total int) { calls = append(calls, call{done, total}) },
	})
	require.NoError(t, err)
	require.Len(t, got, 5)
	require.Equal(t, []call{{0, 5}, {1, 5}, {2, 5}, {3, 5}, {4, 5}, {5, 5}}, calls)
	require.Equal(t, []uint64{keep.Seq}, fx.dlqSeqs())
	require.Len(t, fx.msgs(events.Stream), 5)
}

func TestReplayWithoutEventsStream(t *testing.T) {
	n := testenv.StartNATS(t)
	_, err := n.JS.CreateStream(testCtx(t), events.StreamConfigs(time.Minute)[1]) // EVENTS_DLQ only
	require.NoError(t, err)
	_, err = New(n.JS).Replay(testCtx(t), Filter{}, ReplayOptions{})
	require.ErrorIs(t, err, ErrNoStream)
	require.ErrorContains(t, err, events.Stream)
}

func TestPurge(t *testing.T) {
	fx := newFixture(t)
	a := fx.deadLetter(binaryEvent("e-a", "email.verified", `{}`), "email.verified", "workflow onboarding-a is already closed")
	b := fx.deadLetter(binaryEvent("e-b", "email.verified", `{}`), "email.verified", "did not exist")
	c := fx.deadLetter(binaryEvent("e-c", "user.signedup", `{}`), "user.signedup", "workflow onboarding-c is already closed")

	dry, err := fx.q.Purge(testCtx(t), Filter{Reason: "already closed"}, PurgeOptions{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, []uint64{a.Seq, c.Seq}, seqsOf(dry))
	require.Equal(t, []uint64{a.Seq, b.Seq, c.Seq}, fx.dlqSeqs(), "a dry run deletes nothing")

	var last int
	purged, err := fx.q.Purge(testCtx(t), Filter{Reason: "already closed"}, PurgeOptions{Progress: func(done, _ int) { last = done }})
	require.NoError(t, err)
	require.Equal(t, []uint64{a.Seq, c.Seq}, seqsOf(purged))
	require.Equal(t, 2, last)
	require.Equal(t, []uint64{b.Seq}, fx.dlqSeqs())
	require.Empty(t, fx.msgs(events.Stream), "purge publishes nothing")

	again, err := fx.q.Purge(testCtx(t), Filter{Reason: "already closed"}, PurgeOptions{})
	require.NoError(t, err)
	require.Empty(t, again)
}

// Dead letters deleted while a listing runs (a purge in another terminal) end it instead
// of leaving it waiting for messages that are gone.
func TestListEndsWhenTheRestIsDeleted(t *testing.T) {
	fx := newFixture(t)
	fx.q.idle = 200 * time.Millisecond
	const n = 600 // more than the consumer fetches ahead
	for i := range n {
		fx.deadLetter(binaryEvent(fmt.Sprintf("e-%d", i), "email.verified", `{}`), "email.verified", "x")
	}
	s, err := fx.n.JS.Stream(testCtx(t), events.DLQStream)
	require.NoError(t, err)
	var seen int
	err = fx.q.scan(testCtx(t), Filter{}, func(dl DeadLetter) bool {
		seen++
		if seen == 1 {
			for seq := dl.Seq + 1; seq < dl.Seq+n; seq++ {
				require.NoError(t, s.DeleteMsg(testCtx(t), seq))
			}
		}
		return true
	})
	require.NoError(t, err)
	require.Less(t, seen, n, "the listing ended with what the consumer had already fetched")
}

func TestReplayedMessageHeaders(t *testing.T) {
	event := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"e-1"}, "ce-type": {"email.verified"}, "ce-source": {"/tests"}}
	dl := DeadLetter{
		Seq: 42, Type: "email.verified", EventID: "e-1",
		Header: nats.Header{
			"X-Multi":          {"a", "b"},
			"Flowbridge-Error": {"x"}, "flowbridge-failed-at": {"t"},
			"Nats-Msg-Id": {"e-1"}, "Nats-Expected-Stream": {"EVENTS_DLQ"},
		},
		Data: []byte(`{}`),
	}
	maps.Copy(dl.Header, event)
	r := plan(dl)
	require.Empty(t, r.Skipped)
	m := r.message()
	require.Equal(t, "events.email.verified", m.Subject)
	want := nats.Header{"X-Multi": {"a", "b"}, "Nats-Msg-Id": {"replay-42-e-1"}, HeaderReplayedFrom: {"42"}}
	maps.Copy(want, event)
	require.Equal(t, want, m.Header)

	noID := replayMsgID(DeadLetter{Seq: 43, Type: "x", Header: nats.Header{"Nats-Msg-Id": {"EVENTS-9"}}})
	require.Equal(t, "replay-43-EVENTS-9", noID)
	none := replayMsgID(DeadLetter{Seq: 44, Type: "x"})
	require.Equal(t, "replay-44", none)
	require.NotEmpty(t, plan(DeadLetter{Seq: 45, Subject: "dlq.other"}).Skipped)
}

// A dead letter whose event is malformed in itself (an attribute out of bounds, say) is
// reported and skipped, never published: it stays on EVENTS_DLQ and EVENTS gets only the
// good one. A dry run reports the same.
func TestReplaySkipsMalformedEvents(t *testing.T) {
	fx := newFixture(t)
	good := fx.deadLetter(binaryEvent("e-good", "email.verified", `{"user_id":"u1"}`), "email.verified", "did not exist")
	longType := binaryEvent("e-long", "email.verified", `{"user_id":"u1"}`)
	longType.Header.Set("ce-type", "email."+strings.Repeat("x", 4994))
	nulID := binaryEvent("e-nul", "email.verified", `{"user_id":"u1"}`)
	nulID.Header.Set("ce-id", "e\x00nul")
	longSource := binaryEvent("e-src", "email.verified", `{"user_id":"u1"}`)
	longSource.Header.Set("ce-source", "/"+strings.Repeat("s", 1024))
	badExt := structuredEvent("e-ext", "email.verified", `{"user_id":"u1"}`)
	badExt.Data = []byte(`{"specversion":"1.0","id":"e-ext","type":"email.verified","source":"/tests","tenantid":"a` + "\xff" + `","data":{}}`)
	wants := map[uint64]string{}
	for _, tt := range []struct {
		m    *nats.Msg
		want string
	}{
		{longType, `type "email.xxx`},
		{nulID, `id "e\x00nul" has the non-printable character U+0000`},
		{longSource, "is 1025 bytes long"},
		{badExt, "extension tenantid"},
	} {
		dl := fx.deadLetter(tt.m, "email.verified", "did not exist")
		wants[dl.Seq] = tt.want
	}

	for _, dryRun := range []bool{true, false} {
		got, err := fx.q.Replay(testCtx(t), Filter{}, ReplayOptions{DryRun: dryRun})
		require.NoError(t, err)
		require.Len(t, got, 5, "dry run %v", dryRun)
		for _, r := range got {
			if r.Seq == good.Seq {
				require.Empty(t, r.Skipped, "dry run %v", dryRun)
				require.Equal(t, "events.email.verified", r.To)
				continue
			}
			require.Contains(t, r.Skipped, "cannot be routed as it is", "dead letter %d, dry run %v", r.Seq, dryRun)
			require.Contains(t, r.Skipped, wants[r.Seq], "dead letter %d names the attribute", r.Seq)
			require.Empty(t, r.To)
			require.Zero(t, r.EventsSeq)
			require.Less(t, len(r.Skipped), 600, "the reason does not repeat the whole value: %s", r.Skipped)
		}
	}
	onEvents := fx.msgs(events.Stream)
	require.Len(t, onEvents, 1, "only the good dead letter reaches EVENTS")
	require.Equal(t, "e-good", onEvents[0].Header.Get("ce-id"))
	require.Len(t, fx.dlqSeqs(), 4, "the malformed ones stay on EVENTS_DLQ")
	require.Equal(t, nats.CONNECTED, fx.n.Conn.Status())
}
