package bridge_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/dlq"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// newHarnessWith is newHarness on a NATS server configured by opts, whose streams are made
// by makeStreams (nil: events.EnsureStreams, as the bridge does).
func newHarnessWith(t *testing.T, makeStreams func(context.Context, jetstream.JetStream) error, opts ...testenv.NATSOption) *harness {
	t.Helper()
	h := &harness{t: t, nats: testenv.StartNATS(t, opts...), temporal: testenv.Temporal(t), taskQueue: testenv.ID("test-")}
	if makeStreams == nil {
		makeStreams = func(ctx context.Context, js jetstream.JetStream) error {
			return events.EnsureStreams(ctx, js, 2*time.Minute)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, makeStreams(ctx, h.nats.JS))
	h.pub = events.NewPublisher(h.nats.JS)
	return h
}

// metric sums the counter name over all its labels.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// binaryMsg is a binary-mode user.signedup with body data; it fails its schema unless data
// has an email.
func binaryMsg(id, data string) *nats.Msg {
	m := nats.NewMsg(events.Subject("user.signedup"))
	m.Header.Set("ce-specversion", "1.0")
	m.Header.Set("ce-id", id)
	m.Header.Set("ce-type", "user.signedup")
	m.Header.Set("ce-source", "/tests")
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(events.HeaderMsgID, id)
	m.Data = []byte(data)
	return m
}

// wireSize is a message's size as NATS counts it against max_payload.
func wireSize(h nats.Header, data []byte) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(strings.TrimSpace(v))
		}
	}
	return n + len(data)
}

// An event that carries NATS's publish conditions (Nats-Expected-*) and must be
// dead-lettered is: the conditions held for EVENTS, not for EVENTS_DLQ, so they are not
// copied. Before, EVENTS_DLQ refused the dead letter and the event was NAKed for ever.
func TestDeadLetterDropsNATSControlHeaders(t *testing.T) {
	h := newHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{})
	ctx := context.Background()

	// A good signup first, so that EVENTS' subject has a last sequence EVENTS_DLQ's has not.
	user := testenv.ID("u-")
	first := newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"})
	h.publishBinary(first)
	h.waitExists("onboarding-" + user)

	id := testenv.ID("evt-")
	bad := binaryMsg(id, `{"user_id":"`+testenv.ID("u-")+`"}`)
	bad.Header.Set("Nats-Expected-Last-Subject-Sequence", "1")
	bad.Header.Set("Nats-Expected-Last-Sequence", "1")
	bad.Header.Set("Nats-Expected-Last-Msg-Id", first.ID())
	bad.Header.Set("Nats-Expected-Stream", events.Stream)
	bad.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ack, err := h.nats.JS.PublishMsg(ctx, bad)
	require.NoError(t, err, "EVENTS takes the event: its conditions hold there")

	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.dlq()) == 1 },
		"the event was not dead-lettered (dead-letter failures: %v)", metric(t, rb.reg, "flowbridge_bridge_dead_letter_failures_total"))
	h.consumerSettled(10 * time.Second)
	dl := h.dlq()[0]
	require.Equal(t, "dlq.events.user.signedup", dl.Subject)
	require.Contains(t, dl.Header.Get(events.HeaderError), "missing property 'email'")
	require.Equal(t, strconv.FormatUint(ack.Sequence, 10), dl.Header.Get(events.HeaderStreamSeq))
	require.Equal(t, id, dl.Header.Get(events.HeaderMsgID), "the original Nats-Msg-Id keeps a redelivery from storing it twice")
	require.Equal(t, id, dl.Header.Get("ce-id"))
	require.Equal(t, bad.Header.Get("Traceparent"), dl.Header.Get("Traceparent"), "the event's own headers are kept")
	require.Equal(t, bad.Data, dl.Data)
	for k := range dl.Header {
		require.False(t, strings.HasPrefix(strings.ToLower(k), "nats-expected-last"), "got header %s on the dead letter, want none of NATS's publish conditions", k)
	}
	require.Empty(t, dl.Header.Get(events.HeaderTruncated))
	require.Equal(t, 0.0, metric(t, rb.reg, "flowbridge_bridge_dead_letter_failures_total"))
	require.Equal(t, 1.0, rb.count(t, bridge.OutcomeDeadLettered))

	// And it can be replayed as any other.
	plan, err := dlq.New(h.nats.JS).Replay(ctx, dlq.Filter{Type: "user.signedup"}, dlq.ReplayOptions{DryRun: true})
	require.NoError(t, err)
	require.Len(t, plan, 1)
	require.Empty(t, plan[0].Skipped)
	require.Equal(t, fmt.Sprintf("replay-%d-%s", dl.Sequence, id), plan[0].MsgID)
}

// An event near max_payload grows past it with the dead letter's headers: it is stored
// truncated, saying so, with its sequence on EVENTS where the whole event stays. Before,
// the publish failed and the event was NAKed for ever.
func TestDeadLetterOfAnEventNearMaxPayloadIsTruncated(t *testing.T) {
	const maxPayload = 16 << 10
	h := newHarnessWith(t, nil, testenv.MaxPayload(maxPayload))
	rb := h.startBridge(h.temporal, bridge.Config{})
	ctx := context.Background()

	// Body fills the message to 40 bytes under max_payload.
	bodyOnly := binaryMsg(testenv.ID("evt-"), "")
	filler := maxPayload - 40 - wireSize(bodyOnly.Header, nil) - len(`{"user_id":"u","name":""}`)
	bodyOnly.Data = []byte(`{"user_id":"u","name":"` + strings.Repeat("b", filler) + `"}`)
	require.Equal(t, maxPayload-40, wireSize(bodyOnly.Header, bodyOnly.Data))

	// A header of 6 KiB and a body that fill it the same way.
	bigHeader := binaryMsg(testenv.ID("evt-"), "")
	bigHeader.Header.Set("X-Debug-Blob", strings.Repeat("h", 6<<10))
	filler = maxPayload - 40 - wireSize(bigHeader.Header, nil) - len(`{"user_id":"u","name":""}`)
	bigHeader.Data = []byte(`{"user_id":"u","name":"` + strings.Repeat("b", filler) + `"}`)

	seqs := map[string]uint64{}
	for _, m := range []*nats.Msg{bodyOnly, bigHeader} {
		ack, err := h.nats.JS.PublishMsg(ctx, m)
		require.NoError(t, err)
		seqs[m.Header.Get("ce-id")] = ack.Sequence
	}

	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.dlq()) == 2 },
		"the events were not dead-lettered (dead-letter failures: %v)", metric(t, rb.reg, "flowbridge_bridge_dead_letter_failures_total"))
	h.consumerSettled(10 * time.Second)
	for _, dl := range h.dlq() {
		id := dl.Header.Get("ce-id")
		orig := bodyOnly
		if id == bigHeader.Header.Get("ce-id") {
			orig = bigHeader
		}
		t.Logf("dead letter %d: %s", dl.Sequence, dl.Header.Get(events.HeaderTruncated))
		require.Equal(t, strconv.FormatUint(seqs[id], 10), dl.Header.Get(events.HeaderStreamSeq), "names the original on EVENTS")
		require.Contains(t, dl.Header.Get(events.HeaderTruncated), fmt.Sprintf("original %d bytes", maxPayload-40))
		require.Contains(t, dl.Header.Get(events.HeaderError), "missing property 'email'")
		require.LessOrEqual(t, wireSize(dl.Header, dl.Data)+len("Nats-Expected-Stream: EVENTS_DLQ\r\n"), maxPayload)
		require.True(t, strings.HasPrefix(string(orig.Data), string(dl.Data)), "the body kept is the start of the original")
		require.Greater(t, len(dl.Data), maxPayload/2, "as much of the body as fits is kept")
		require.Equal(t, orig.Header.Get("ce-type"), dl.Header.Get("ce-type"))
		require.Equal(t, id, dl.Header.Get(events.HeaderMsgID))
		if orig == bigHeader {
			require.Empty(t, dl.Header.Get("X-Debug-Blob"))
			require.Contains(t, dl.Header.Get(events.HeaderTruncated), "dropped headers: X-Debug-Blob")
		}

		// The whole event is still on EVENTS at the sequence the dead letter names.
		s, err := h.nats.JS.Stream(ctx, events.Stream)
		require.NoError(t, err)
		whole, err := s.GetMsg(ctx, seqs[id])
		require.NoError(t, err)
		require.Equal(t, orig.Data, whole.Data)
	}
	require.Equal(t, 2.0, metric(t, rb.reg, "flowbridge_bridge_dead_letters_truncated_total"))
	require.Equal(t, 0.0, metric(t, rb.reg, "flowbridge_bridge_dead_letter_failures_total"))
	require.Equal(t, 2.0, rb.count(t, bridge.OutcomeDeadLettered))

	// A replay would publish a cut event: it is skipped, saying where the whole one is.
	plan, err := dlq.New(h.nats.JS).Replay(ctx, dlq.Filter{}, dlq.ReplayOptions{DryRun: true})
	require.NoError(t, err)
	require.Len(t, plan, 2)
	for _, r := range plan {
		require.Contains(t, r.Skipped, "truncated")
		require.Contains(t, r.Skipped, "EVENTS sequence "+r.Header.Get(events.HeaderStreamSeq))
	}
}

// When EVENTS_DLQ refuses a dead letter that fits max_payload (its operator set a smaller
// max_msg_size), the dead letter is stored as its Flowbridge-* headers alone.
func TestDeadLetterRefusedByTheStreamIsStoredBare(t *testing.T) {
	h := newHarnessWith(t, func(ctx context.Context, js jetstream.JetStream) error {
		cfgs := events.StreamConfigs(2 * time.Minute)
		cfgs[1].MaxMsgSize = 2048
		for _, c := range cfgs {
			if _, err := js.CreateStream(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	rb := h.startBridge(h.temporal, bridge.Config{})
	ctx := context.Background()

	id := testenv.ID("evt-")
	m := binaryMsg(id, `{"user_id":"u","name":"`+strings.Repeat("n", 8<<10)+`"}`)
	ack, err := h.nats.JS.PublishMsg(ctx, m)
	require.NoError(t, err)

	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.dlq()) == 1 }, "the event was not dead-lettered")
	h.consumerSettled(10 * time.Second)
	dl := h.dlq()[0]
	require.Empty(t, dl.Data)
	require.Equal(t, strconv.FormatUint(ack.Sequence, 10), dl.Header.Get(events.HeaderStreamSeq))
	require.Contains(t, dl.Header.Get(events.HeaderError), "missing property 'email'")
	require.Contains(t, dl.Header.Get(events.HeaderTruncated), "EVENTS_DLQ refused the dead letter")
	require.Equal(t, id, dl.Header.Get("ce-id"), "the event's id is kept, so dlq ls can name it")
	require.Equal(t, 1.0, metric(t, rb.reg, "flowbridge_bridge_dead_letters_truncated_total"))
}

// While no dead letter can be stored at all (EVENTS_DLQ is gone), the event stays on
// EVENTS and every failed attempt is counted; once EVENTS_DLQ is back it is dead-lettered.
func TestDeadLetterFailuresAreCountedAndRetried(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	require.NoError(t, h.nats.JS.DeleteStream(ctx, events.DLQStream))
	rb := h.startBridge(h.temporal, bridge.Config{})

	id := testenv.ID("evt-")
	_, err := h.nats.JS.PublishMsg(ctx, binaryMsg(id, `{"user_id":"u"}`))
	require.NoError(t, err)
	testenv.Eventually(t, 20*time.Second, func() bool { return metric(t, rb.reg, "flowbridge_bridge_dead_letter_failures_total") >= 2 },
		"failed dead letters were not counted")
	require.Zero(t, rb.count(t, bridge.OutcomeDeadLettered))
	for _, o := range rb.recorder.byEvent(id) {
		require.Equal(t, bridge.OutcomeRetried, o.Outcome)
		require.Contains(t, o.Error, "store dead letter")
	}

	require.NoError(t, events.EnsureStreams(ctx, h.nats.JS, 2*time.Minute))
	testenv.Eventually(t, 40*time.Second, func() bool { return len(h.dlq()) == 1 }, "the event was not dead-lettered once EVENTS_DLQ was back")
	h.consumerSettled(10 * time.Second)
	require.Equal(t, id, h.dlq()[0].Header.Get("ce-id"))
	require.Equal(t, 1.0, rb.count(t, bridge.OutcomeDeadLettered))
}
