package ingress_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// TestConcurrentRequestsEachAnsweredForTheirOwnAck: many requests at once (their publishes
// pipelined on one connection) are each answered 202 only for an event the stream holds;
// the events the stream refuses (over its message size here) are answered 503 and do not
// fail the others.
func TestConcurrentRequestsEachAnsweredForTheirOwnAck(t *testing.T) {
	const total, every = 200, 8 // every 8th event is too large for the stream
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	_, err := n.JS.CreateStream(ctx, jetstream.StreamConfig{Name: events.Stream, Subjects: []string{events.StreamSubjects}, MaxMsgSize: 4096})
	require.NoError(t, err)
	w := newWorldOn(t, n, n.JS, ingress.IngestConfig{})

	type outcome struct {
		id   string
		code int
		body string
	}
	out := make(chan outcome, total)
	for i := range total {
		id := testenv.ID("ev-")
		data := map[string]any{"note": "small"}
		if i%every == 0 {
			data["note"] = strings.Repeat("x", 8192)
		}
		body := structuredEvent(t, id, "load.tested", data)
		go func() {
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/events", bytes.NewReader(body))
			req.Header.Set("Content-Type", structuredHeader().Get("Content-Type"))
			rec := httptest.NewRecorder()
			w.handler.ServeHTTP(rec, req)
			out <- outcome{id: id, code: rec.Code, body: rec.Body.String()}
		}()
	}
	accepted := map[string]bool{}
	var refused int
	for range total {
		o := <-out
		switch o.code {
		case http.StatusAccepted:
			var a struct{ IDs []string }
			require.NoError(t, json.Unmarshal([]byte(o.body), &a))
			require.Equal(t, []string{o.id}, a.IDs)
			accepted[o.id] = true
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("event %s: got %d %s, want 202 or 503", o.id, o.code, o.body)
		}
	}
	require.Equal(t, total/every, refused, "refused: got %d, want the %d oversized events", refused, total/every)
	stored := w.stored()
	require.Len(t, stored, len(accepted), "stream holds %d events, want the %d answered 202", len(stored), len(accepted))
	for _, ev := range stored {
		require.True(t, accepted[ev.ID()], "event %s is stored but was not answered 202", ev.ID())
	}
}
