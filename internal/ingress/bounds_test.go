package ingress_test

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// An attribute out of bounds is refused with 400 naming it, in every content mode, and
// nothing reaches NATS: a 5,000-byte type used to become a publish on a subject past the
// server's control-line limit, the server closed the connection, and the ingress answered
// 503 for ever after. The connection stays up and the next good event is accepted.
func TestCloudEventsAttributeBounds(t *testing.T) {
	longType := "user." + strings.Repeat("x", 4995)
	type attrs struct {
		id, typ, source string
		ext             map[string]string // extension attributes
	}
	good := func() attrs {
		return attrs{id: testenv.ID("ev-"), typ: "user.signedup", source: "/signup"}
	}
	// Binary mode sends attributes percent-encoded, as the HTTP binding asks: %00 is a NUL
	// and %FF a byte that is not UTF-8 once decoded.
	binaryReq := func(t *testing.T, a attrs) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", a.id)
		h.Set("ce-type", a.typ)
		h.Set("ce-source", a.source)
		for k, v := range a.ext {
			h.Set("ce-"+k, v)
		}
		return h, mustJSON(t, signedUp())
	}
	structuredObj := func(a attrs) map[string]any {
		m := map[string]any{"specversion": "1.0", "id": a.id, "type": a.typ, "source": a.source,
			"datacontenttype": "application/json", "data": signedUp()}
		for k, v := range a.ext {
			m[k] = v
		}
		return m
	}
	// encoding/json would write invalid UTF-8 as U+FFFD: rawFF stands for a byte 0xFF
	// put into the body after marshalling.
	const rawFF = "@0xFF@"
	invalidUTF8 := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(rawFF), []byte{0xff}) }
	structuredReq := func(t *testing.T, a attrs) (http.Header, []byte) {
		return structuredHeader(), invalidUTF8(mustJSON(t, structuredObj(a)))
	}
	batchReq := func(t *testing.T, a attrs) (http.Header, []byte) {
		return batchHeader(), invalidUTF8(mustJSON(t, []any{structuredObj(good()), structuredObj(a)}))
	}
	modes := []struct {
		name      string
		req       func(t *testing.T, a attrs) (http.Header, []byte)
		wantIndex any
	}{
		{name: "binary", req: binaryReq},
		{name: "structured", req: structuredReq},
		{name: "batch", req: batchReq, wantIndex: float64(1)},
	}
	tests := []struct {
		name      string
		modes     []string // nil: every mode
		bad       func(a *attrs)
		wantField string
		wantError string
	}{
		{name: "type of 5000 bytes", bad: func(a *attrs) { a.typ = longType }, wantField: "type", wantError: "is 5000 bytes long: at most 255 are allowed"},
		{name: "type of 256 bytes", bad: func(a *attrs) { a.typ = strings.Repeat("t", 256) }, wantField: "type", wantError: "at most 255"},
		{name: "type with a non-ASCII letter", bad: func(a *attrs) { a.typ = "café.ordered" }, wantField: "type", wantError: "not a valid subject token sequence"},
		{name: "id with %00", modes: []string{"binary"}, bad: func(a *attrs) { a.id = "ev%00-1" }, wantField: "id", wantError: "U+0000"},
		{name: "id with NUL", bad: func(a *attrs) { a.id = "ev\x00-1" }, wantField: "id", wantError: "U+0000"},
		{name: "id of 257 bytes", bad: func(a *attrs) { a.id = strings.Repeat("i", 257) }, wantField: "id", wantError: "is 257 bytes long: at most 256"},
		{name: "id with a newline", modes: []string{"binary"}, bad: func(a *attrs) { a.id = "ev%0A1" }, wantField: "id", wantError: "U+000A"},
		{name: "source of 1025 bytes", bad: func(a *attrs) { a.source = "/" + strings.Repeat("s", 1024) }, wantField: "source", wantError: "is 1025 bytes long: at most 1024"},
		{name: "extension with invalid UTF-8", modes: []string{"binary"}, bad: func(a *attrs) { a.ext = map[string]string{"tenantid": "acme%FF"} }, wantField: "tenantid", wantError: "not valid UTF-8"},
		{name: "extension with invalid UTF-8", modes: []string{"structured", "batch"}, bad: func(a *attrs) { a.ext = map[string]string{"tenantid": "acme" + rawFF} }, wantField: "tenantid", wantError: "not valid UTF-8"},
		{name: "extension with a control character", bad: func(a *attrs) { a.ext = map[string]string{"tenantid": "ac\x01me"} }, wantField: "tenantid", wantError: "U+0001"},
		{name: "extension of 1025 bytes", bad: func(a *attrs) { a.ext = map[string]string{"note": strings.Repeat("n", 1025)} }, wantField: "note", wantError: "1025 bytes"},
		{
			name: "33 extensions",
			bad: func(a *attrs) {
				a.ext = map[string]string{}
				for i := range 33 {
					a.ext["ext"+strconv.Itoa(i)] = "v"
				}
			},
			wantField: "extensions", wantError: "at most 32",
		},
	}
	for _, mode := range modes {
		for _, tt := range tests {
			if tt.modes != nil && !slices.Contains(tt.modes, mode.name) {
				continue
			}
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				w := newWorld(t, ingress.IngestConfig{})
				a := good()
				tt.bad(&a)
				h, body := mode.req(t, a)
				res := w.post("/events", h, body)
				requireStatus(t, http.StatusBadRequest, res)
				require.Equal(t, tt.wantField, res.Body["field"], "field: got %v, want %v (body %s)", res.Body["field"], tt.wantField, res.Raw)
				require.Contains(t, res.Body["error"], tt.wantError)
				require.Equal(t, mode.wantIndex, res.Body["index"], "index: got %v, want %v", res.Body["index"], mode.wantIndex)
				if tt.wantField == "id" {
					require.NotContains(t, res.Body, "id", "a refusal does not echo the invalid id")
				}
				require.Less(t, len(res.Raw), 1024, "the refusal does not echo the whole value: %s", res.Raw)
				w.requireNothingStored(res)

				require.Equal(t, nats.CONNECTED, w.nats.Conn.Status(), "NATS connection: got %v, want CONNECTED", w.nats.Conn.Status())
				ok := good()
				h, body = structuredReq(t, ok)
				requireStatus(t, http.StatusAccepted, w.post("/events", h, body))
				stored := w.stored()
				require.Len(t, stored, 1)
				require.Equal(t, ok.id, stored[0].ID())
			})
		}
	}
}

// The webhooks put what their senders chose into the type and the id (X-GitHub-Event,
// X-GitHub-Delivery, a Stripe event's type and id): a signed delivery is still held to
// the bounds.
func TestWebhookAttributeBounds(t *testing.T) {
	tests := []struct {
		name      string
		request   func(t *testing.T) (string, http.Header, []byte)
		wantField string
	}{
		{
			name: "GitHub event name of 5000 bytes",
			request: func(t *testing.T) (string, http.Header, []byte) {
				body := []byte(`{"repository":{"full_name":"acme/blueprints"}}`)
				return ingress.RouteGitHub, githubDelivery(strings.Repeat("x", 5000), testenv.ID("d-"), githubSecret, body), body
			},
			wantField: "type",
		},
		{
			name: "GitHub delivery id of 300 bytes",
			request: func(t *testing.T) (string, http.Header, []byte) {
				body := []byte(`{"repository":{"full_name":"acme/blueprints"}}`)
				return ingress.RouteGitHub, githubDelivery("issues", strings.Repeat("d", 300), githubSecret, body), body
			},
			wantField: "id",
		},
		{
			name: "Stripe event type with a slash",
			request: func(t *testing.T) (string, http.Header, []byte) {
				body := stripePayload(t, testenv.ID("evt_"), "charge/refunded", map[string]any{"id": "ch_1", "object": "charge"})
				return ingress.RouteStripe, signStripe(body, stripeSecret, time.Now()), body
			},
			wantField: "type",
		},
		{
			name: "Stripe event id with a NUL",
			request: func(t *testing.T) (string, http.Header, []byte) {
				body := stripePayload(t, "evt_\x00", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge"})
				return ingress.RouteStripe, signStripe(body, stripeSecret, time.Now()), body
			},
			wantField: "id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}, GitHubSecrets: []string{githubSecret}})
			route, h, body := tt.request(t)
			res := w.post(route, h, body)
			requireStatus(t, http.StatusBadRequest, res)
			require.Equal(t, tt.wantField, res.Body["field"], "field: got %v, want %v (body %s)", res.Body["field"], tt.wantField, res.Raw)
			w.requireNothingStored(res)
			require.Equal(t, nats.CONNECTED, w.nats.Conn.Status(), "NATS connection: got %v, want CONNECTED", w.nats.Conn.Status())
		})
	}
}
