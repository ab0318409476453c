package ingress_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func structuredHeader() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
}

func batchHeader() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
}

func signedUp() map[string]any {
	return map[string]any{"user_id": testenv.ID("u-"), "email": "ada@example.com"}
}

func structuredMap(id, typ string, data any) map[string]any {
	return map[string]any{
		"specversion": "1.0", "id": id, "type": typ, "source": "/signup",
		"datacontenttype": "application/json", "data": data,
	}
}

func structuredEvent(t *testing.T, id, typ string, data any) []byte {
	t.Helper()
	return mustJSON(t, structuredMap(id, typ, data))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// wantStored is what the stream must hold for one accepted event.
type wantStored struct {
	id, typ, source, subject string
	time                     time.Time
	extensions               map[string]any
	data                     any
}

func requireStored(t *testing.T, want []wantStored, got []events.Event) {
	t.Helper()
	require.Len(t, got, len(want), "stored events: got %d, want %d", len(got), len(want))
	for i, w := range want {
		ev := got[i]
		require.Equal(t, w.id, ev.ID(), "id: got %v, want %v", ev.ID(), w.id)
		require.Equal(t, w.typ, ev.Type(), "type: got %v, want %v", ev.Type(), w.typ)
		require.Equal(t, w.source, ev.Source(), "source: got %v, want %v", ev.Source(), w.source)
		require.Equal(t, w.subject, ev.Subject(), "subject: got %v, want %v", ev.Subject(), w.subject)
		require.True(t, w.time.Equal(ev.Time()), "time: got %v, want %v", ev.Time(), w.time)
		for k, v := range w.extensions {
			require.Equal(t, v, ev.Extensions()[k], "extension %s: got %v, want %v", k, ev.Extensions()[k], v)
		}
		wantData := string(mustJSON(t, w.data))
		require.JSONEq(t, wantData, string(ev.Data()), "data: got %s, want %s", ev.Data(), wantData)
	}
}

func TestCloudEventsAccepted(t *testing.T) {
	when := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	type request struct {
		header http.Header
		body   []byte
	}
	tests := []struct {
		name    string
		request func(t *testing.T, ids []string, data []map[string]any) request
		want    func(ids []string, data []map[string]any) []wantStored
	}{
		{
			name: "binary",
			request: func(t *testing.T, ids []string, data []map[string]any) request {
				h := http.Header{}
				h.Set("Content-Type", "application/json")
				h.Set("ce-specversion", "1.0")
				h.Set("ce-id", ids[0])
				h.Set("ce-type", "user.signedup")
				h.Set("ce-source", "/signup")
				h.Set("ce-subject", "caf%C3%A9") // percent-encoded, as the HTTP binding asks
				h.Set("ce-time", when.Format(time.RFC3339))
				h.Set("ce-tenantid", "acme")
				return request{header: h, body: mustJSON(t, data[0])}
			},
			want: func(ids []string, data []map[string]any) []wantStored {
				return []wantStored{{id: ids[0], typ: "user.signedup", source: "/signup", subject: "café", time: when,
					extensions: map[string]any{"tenantid": "acme"}, data: data[0]}}
			},
		},
		{
			name: "structured",
			request: func(t *testing.T, ids []string, data []map[string]any) request {
				ev := structuredMap(ids[0], "user.signedup", data[0])
				ev["time"] = when.Format(time.RFC3339)
				ev["tenantid"] = "acme"
				return request{header: structuredHeader(), body: mustJSON(t, ev)}
			},
			want: func(ids []string, data []map[string]any) []wantStored {
				return []wantStored{{id: ids[0], typ: "user.signedup", source: "/signup", time: when,
					extensions: map[string]any{"tenantid": "acme"}, data: data[0]}}
			},
		},
		{
			name: "batch of 3",
			request: func(t *testing.T, ids []string, data []map[string]any) request {
				return request{header: batchHeader(), body: mustJSON(t, []any{
					structuredMap(ids[0], "user.signedup", data[0]),
					structuredMap(ids[1], "email.verified", map[string]any{"user_id": data[0]["user_id"]}),
					structuredMap(ids[2], "user.signedup", data[2]),
				})}
			},
			want: func(ids []string, data []map[string]any) []wantStored {
				return []wantStored{
					{id: ids[0], typ: "user.signedup", source: "/signup", data: data[0]},
					{id: ids[1], typ: "email.verified", source: "/signup", data: map[string]any{"user_id": data[0]["user_id"]}},
					{id: ids[2], typ: "user.signedup", source: "/signup", data: data[2]},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{})
			ids := []string{testenv.ID("ev-"), testenv.ID("ev-"), testenv.ID("ev-")}
			data := []map[string]any{signedUp(), signedUp(), signedUp()}
			req := tt.request(t, ids, data)
			want := tt.want(ids, data)

			res := w.post("/events", req.header, req.body)
			requireStatus(t, http.StatusAccepted, res)
			require.Equal(t, float64(len(want)), res.Body["accepted"], "accepted: got %v, want %d", res.Body["accepted"], len(want))
			requireStored(t, want, w.stored())
		})
	}
}

func TestCloudEventsDuplicate(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{})
	id := testenv.ID("ev-")
	body := structuredEvent(t, id, "user.signedup", signedUp())
	requireStatus(t, http.StatusAccepted, w.post("/events", structuredHeader(), body))
	res := w.post("/events", structuredHeader(), body)
	requireStatus(t, http.StatusAccepted, res)
	require.Equal(t, []any{id}, res.Body["duplicates"], "duplicates: got %v, want [%s]", res.Body["duplicates"], id)
	require.Len(t, w.stored(), 1)
}

func TestCloudEventsRefused(t *testing.T) {
	valid := func(t *testing.T) map[string]any {
		return structuredMap(testenv.ID("ev-"), "user.signedup", signedUp())
	}
	tests := []struct {
		name       string
		maxBody    int64
		header     http.Header
		body       func(t *testing.T) []byte
		wantStatus int
		wantField  string
		wantIndex  any // float64 position in the batch, or nil
		wantError  string
	}{
		{
			name:   "batch with an invalid type",
			header: batchHeader(),
			body: func(t *testing.T) []byte {
				return mustJSON(t, []any{valid(t), structuredMap("ev-bad", "user signed up", signedUp()), valid(t)})
			},
			wantStatus: http.StatusBadRequest, wantField: "type", wantIndex: float64(1), wantError: "batch event 1",
		},
		{
			name:   "batch with a schema violation",
			header: batchHeader(),
			body: func(t *testing.T) []byte {
				return mustJSON(t, []any{valid(t), valid(t), structuredMap("ev-noemail", "user.signedup", map[string]any{"user_id": "u-1"})})
			},
			wantStatus: http.StatusBadRequest, wantField: "data", wantIndex: float64(2), wantError: "missing property 'email'",
		},
		{
			name:   "batch with an event without id",
			header: batchHeader(),
			body: func(t *testing.T) []byte {
				bad := valid(t)
				delete(bad, "id")
				return mustJSON(t, []any{bad, valid(t)})
			},
			wantStatus: http.StatusBadRequest, wantField: "id", wantIndex: float64(0), wantError: "id:",
		},
		{
			name:   "batch with an event that is not an object",
			header: batchHeader(),
			body: func(t *testing.T) []byte {
				return mustJSON(t, []any{valid(t), "user.signedup"})
			},
			wantStatus: http.StatusBadRequest, wantIndex: float64(1), wantError: "not a CloudEvent in JSON format",
		},
		{
			name:       "empty batch",
			header:     batchHeader(),
			body:       func(*testing.T) []byte { return []byte(`[]`) },
			wantStatus: http.StatusBadRequest, wantError: "batch is empty",
		},
		{
			name:       "batch that is not an array",
			header:     batchHeader(),
			body:       func(t *testing.T) []byte { return mustJSON(t, valid(t)) },
			wantStatus: http.StatusBadRequest, wantError: "not a JSON array",
		},
		{
			name:   "structured schema violation",
			header: structuredHeader(),
			body: func(t *testing.T) []byte {
				return structuredEvent(t, "ev-1", "user.signedup", map[string]any{"user_id": "u-1", "email": 42})
			},
			wantStatus: http.StatusBadRequest, wantField: "data", wantError: "/email",
		},
		{
			name:   "structured data that is not JSON",
			header: structuredHeader(),
			body: func(t *testing.T) []byte {
				ev := structuredMap("ev-1", "user.signedup", "plain text")
				ev["datacontenttype"] = "text/plain"
				return mustJSON(t, ev)
			},
			wantStatus: http.StatusBadRequest, wantField: "data", wantError: "not JSON",
		},
		{
			name:   "structured spec version 0.3",
			header: structuredHeader(),
			body: func(t *testing.T) []byte {
				ev := valid(t)
				ev["specversion"] = "0.3"
				return mustJSON(t, ev)
			},
			wantStatus: http.StatusBadRequest, wantField: "specversion", wantError: "send 1.0",
		},
		{
			name: "binary without ce-id",
			header: http.Header{
				"Ce-Specversion": {"1.0"}, "Ce-Type": {"user.signedup"}, "Ce-Source": {"/signup"},
				"Content-Type": {"application/json"},
			},
			body:       func(t *testing.T) []byte { return mustJSON(t, signedUp()) },
			wantStatus: http.StatusBadRequest, wantField: "id",
		},
		{
			name: "binary with a bad time",
			header: http.Header{
				"Ce-Specversion": {"1.0"}, "Ce-Id": {"ev-1"}, "Ce-Type": {"user.signedup"}, "Ce-Source": {"/signup"},
				"Ce-Time": {"yesterday"}, "Content-Type": {"application/json"},
			},
			body:       func(t *testing.T) []byte { return mustJSON(t, signedUp()) },
			wantStatus: http.StatusBadRequest, wantField: "time", wantError: "RFC 3339",
		},
		{
			name:       "not a CloudEvent",
			header:     http.Header{"Content-Type": {"application/json"}},
			body:       func(t *testing.T) []byte { return mustJSON(t, signedUp()) },
			wantStatus: http.StatusBadRequest, wantError: "not a CloudEvent",
		},
		{
			name:    "over the body limit",
			maxBody: 1024,
			header:  batchHeader(),
			body: func(t *testing.T) []byte {
				big := structuredMap("ev-big", "report.note", map[string]any{"text": strings.Repeat("x", 2048)})
				return mustJSON(t, []any{valid(t), big})
			},
			wantStatus: http.StatusRequestEntityTooLarge, wantError: "over the 1024-byte limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{MaxBodyBytes: tt.maxBody})
			res := w.post("/events", tt.header, tt.body(t))
			requireStatus(t, tt.wantStatus, res)
			if tt.wantField != "" {
				require.Equal(t, tt.wantField, res.Body["field"], "field: got %v, want %v (body %s)", res.Body["field"], tt.wantField, res.Raw)
			}
			require.Equal(t, tt.wantIndex, res.Body["index"], "index: got %v, want %v (body %s)", res.Body["index"], tt.wantIndex, res.Raw)
			require.Contains(t, res.Body["error"], tt.wantError, "error: got %q, want it to contain %q", res.Body["error"], tt.wantError)
			w.requireNothingStored(res)
		})
	}
}

// TestCloudEventsStreamUnavailable: when the stream cannot take an event the answer is
// 503, so the sender retries, and nothing is stored.
func TestCloudEventsStreamUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, n *testenv.NATS)
		mend    func(t *testing.T, n *testenv.NATS)
	}{
		{
			name: "EVENTS stream deleted",
			breakIt: func(t *testing.T, n *testenv.NATS) {
				require.NoError(t, n.JS.DeleteStream(testCtx(t), events.Stream))
			},
			mend: func(t *testing.T, n *testenv.NATS) {
				require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
			},
		},
		{
			// With a reconnect buffer, nats.go would hold the publish and flush it once NATS
			// is back: the event would be stored after the 503. The bridge's connection
			// must disable the buffer (nats.ReconnectBufSize(-1)), as this one does.
			name:    "NATS down",
			breakIt: func(t *testing.T, n *testenv.NATS) { n.Shutdown() },
			mend: func(t *testing.T, n *testenv.NATS) {
				n.Restart()
				testenv.Eventually(t, 10*time.Second, n.Conn.IsConnected, "test connection did not reconnect to NATS")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.StartNATS(t)
			require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
			nc, err := nats.Connect(n.URL, nats.ReconnectBufSize(-1), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			w := newWorldOn(t, n, js, ingress.IngestConfig{})
			tt.breakIt(t, n)

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			body := mustJSON(t, []any{structuredMap(testenv.ID("ev-"), "user.signedup", signedUp())})
			res := w.postCtx(ctx, "/events", batchHeader(), body)
			requireStatus(t, http.StatusServiceUnavailable, res)
			require.Contains(t, res.Body["error"], "retry")

			tt.mend(t, n)
			w.requireNothingStored(res)
		})
	}
}

// TestCloudEventsBatchFailsPartWay: a stream that fills up after the first event of a
// batch makes the answer 503 with the first event stored; the sender's retry of the
// whole batch stores the rest, and the first is dropped as a duplicate of its id.
func TestCloudEventsBatchFailsPartWay(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := testCtx(t)
	cfg := events.StreamConfigs(2 * time.Minute)[0]
	cfg.MaxMsgs, cfg.Discard = 1, jetstream.DiscardNew
	_, err := n.JS.CreateStream(ctx, cfg)
	require.NoError(t, err)
	w := newWorldOn(t, n, n.JS, ingress.IngestConfig{})
	ids := []string{testenv.ID("ev-"), testenv.ID("ev-")}
	body := mustJSON(t, []any{
		structuredMap(ids[0], "user.signedup", signedUp()),
		structuredMap(ids[1], "user.signedup", signedUp()),
	})

	res := w.post("/events", batchHeader(), body)
	requireStatus(t, http.StatusServiceUnavailable, res)
	require.Contains(t, res.Body["error"], "1 of 2 stored")
	require.Len(t, w.stored(), 1)

	cfg.MaxMsgs = -1
	_, err = n.JS.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	res = w.post("/events", batchHeader(), body)
	requireStatus(t, http.StatusAccepted, res)
	require.Equal(t, []any{ids[0]}, res.Body["duplicates"], "duplicates: got %v, want [%s]", res.Body["duplicates"], ids[0])
	got := w.stored()
	require.Len(t, got, 2)
	require.Equal(t, ids, []string{got[0].ID(), got[1].ID()})
}

// With tokens configured, POST /events takes only requests bearing one of them (either
// of two, so a token can be rotated) and stores nothing for the others.
func TestCloudEventsBearerToken(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{EventsTokens: []ingress.EventsToken{{Token: "old-token"}, {Token: "new-token"}}})
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"not bearer", "Basic new-token", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"old token", "Bearer old-token", http.StatusAccepted},
		{"new token", "Bearer new-token", http.StatusAccepted},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := structuredHeader()
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			res := w.post("/events", h, structuredEvent(t, testenv.ID("ev-"), "user.signedup", signedUp()))
			requireStatus(t, tt.status, res)
			if tt.status == http.StatusAccepted {
				accepted++
			} else {
				require.Contains(t, res.Body["error"], "bearer token")
			}
			require.Len(t, w.stored(), accepted, "got %d stored, want %d", len(w.stored()), accepted)
		})
	}
}
