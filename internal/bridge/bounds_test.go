package bridge_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// Events published straight to NATS with an attribute out of bounds are dead-lettered on
// a subject that is always valid, with a Flowbridge-Error naming the attribute, and the
// bridge goes on routing. A 5,000-byte type used to become the dead letter's subject
// dlq.events.<type>, past the server's control-line limit: the server closed the
// connection and the bridge stopped consuming, on every restart.
func TestOutOfBoundsEventsAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{})
	longType := "user." + strings.Repeat("x", 4995)
	binary := func(subject, id, typ string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Header.Set("ce-specversion", "1.0")
		m.Header.Set("ce-id", id)
		m.Header.Set("ce-type", typ)
		m.Header.Set("ce-source", "/tests")
		m.Header.Set("Content-Type", "application/json")
		m.Data = []byte(`{"user_id":"x","email":"x@example.com"}`)
		return m
	}

	// A plain subject: the server itself closes a connection that publishes on a subject
	// as long as the type.
	typeBinary := binary("events.x", testenv.ID("evt-"), longType)
	typeStructured := nats.NewMsg("events.y")
	typeStructured.Header.Set("Content-Type", "application/cloudevents+json")
	typeStructured.Data = []byte(`{"specversion":"1.0","id":"` + testenv.ID("evt-") + `","type":"` + longType + `","source":"/tests","data":{}}`)
	nulID := binary("events.user.signedup", "evt-\x00-"+testenv.ID(""), "user.signedup")
	longID := binary("events.user.signedup", strings.Repeat("i", 257), "user.signedup")
	badExt := binary("events.user.signedup", testenv.ID("evt-"), "user.signedup")
	badExt.Header.Set("ce-tenantid", "acme\xff")
	for _, m := range []*nats.Msg{typeBinary, typeStructured, nulID, longID, badExt} {
		h.publishRaw(m)
	}

	user := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))

	h.consumerSettled(15 * time.Second)
	require.Equal(t, running, h.status("onboarding-"+user), "the good event behind the bad ones was routed")
	require.Equal(t, nats.CONNECTED, h.nats.Conn.Status(), "the bridge's connection: got %v, want CONNECTED", h.nats.Conn.Status())

	dl := h.dlq()
	require.Len(t, dl, 5)
	slices.SortFunc(dl, func(a, b *jetstream.RawStreamMsg) int {
		return cmp.Compare(a.Header.Get(events.HeaderStreamSeq), b.Header.Get(events.HeaderStreamSeq))
	})
	wants := []struct {
		subject string
		reason  []string
		orig    *nats.Msg
	}{
		{"dlq.events.x", []string{`type "user.xxx`, "is 5000 bytes long: at most 255 are allowed"}, typeBinary},
		{"dlq.events.y", []string{`type "user.xxx`, "is 5000 bytes long"}, typeStructured},
		{"dlq.events.user.signedup", []string{`id "evt-\x00-`, "non-printable character U+0000"}, nulID},
		{"dlq.events.user.signedup", []string{"is 257 bytes long: at most 256 are allowed"}, longID},
		{"dlq.events.user.signedup", []string{`extension tenantid "acme\xff" is not valid UTF-8`}, badExt},
	}
	for i, want := range wants {
		reason := dl[i].Header.Get(events.HeaderError)
		require.Equal(t, want.subject, dl[i].Subject, "dead letter %d (%s)", i, reason)
		for _, r := range want.reason {
			require.Contains(t, reason, r, "dead letter %d", i)
		}
		require.Less(t, len(reason), 400, "dead letter %d: the reason does not repeat the whole value: %s", i, reason)
		require.Equal(t, want.orig.Data, dl[i].Data, "dead letter %d keeps the original body", i)
	}
	require.Equal(t, 5.0, rb.count(t, "dead_lettered"))
}
