package ingress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// httpWorld is a world whose ingress listens on a real HTTP port, with its logs kept.
type httpWorld struct {
	*world
	url  string
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newHTTPWorld serves an ingest configured exactly as cfg says (no open default).
func newHTTPWorld(t *testing.T, cfg ingress.IngestConfig) *httpWorld {
	t.Helper()
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	logs := &lockedBuffer{}
	log := zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.DebugLevel)
	reg := prometheus.NewRegistry()
	in, err := ingress.NewIngest(events.NewPublisher(n.JS), sch, reg, log, cfg)
	require.NoError(t, err)
	srv := ingress.New(ingress.Config{}, log)
	in.Mount(srv)
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	return &httpWorld{world: &world{t: t, nats: n, handler: srv.Handler()}, url: web.URL, logs: logs}
}

// send posts body to POST /events over HTTP, with token as its bearer token when set.
func (w *httpWorld) send(token string, header http.Header, body []byte) response {
	w.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(w.t), http.MethodPost, w.url+"/events", bytes.NewReader(body))
	require.NoError(w.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	res := response{Status: resp.StatusCode, Raw: string(raw)}
	require.Equal(w.t, "application/json", resp.Header.Get("Content-Type"), "Content-Type of answer %s", res.Raw)
	require.NoError(w.t, json.Unmarshal(raw, &res.Body), "answer is not JSON: %s", res.Raw)
	return res
}

// typedEvent is a valid event of each type the tests publish.
func typedEvent(t *testing.T, typ string) []byte {
	t.Helper()
	data := map[string]any{
		"user.signedup":  signedUp(),
		"email.verified": map[string]any{"user_id": testenv.ID("u-")},
		"stripe.paid":    map[string]any{"payment_id": testenv.ID("pi_"), "customer_id": "cus_1", "amount": 4900, "currency": "eur"},
		"blueprint.pushed": map[string]any{"repository": "acme/site", "clone_url": "https://github.com/acme/site.git",
			"ref": "refs/heads/main", "commit_sha": "0123456789abcdef0123456789abcdef01234567"},
	}[typ]
	if data == nil {
		data = map[string]any{"note": "no schema"}
	}
	return structuredEvent(t, testenv.ID("ev-"), typ, data)
}

// Without tokens and not opened, POST /events takes nothing from anyone.
func TestEventsClosedWithoutTokens(t *testing.T) {
	w := newHTTPWorld(t, ingress.IngestConfig{})
	for _, token := range []string{"", "any-token"} {
		res := w.send(token, structuredHeader(), typedEvent(t, "user.signedup"))
		requireStatus(t, http.StatusForbidden, res)
		require.Contains(t, res.Body["error"], "INGRESS_EVENTS_TOKENS")
		require.Contains(t, res.Body["error"], "INGRESS_EVENTS_OPEN=true")
		w.requireNothingStored(res)
	}
	require.Contains(t, w.logs.String(), "INGRESS_EVENTS_TOKENS is not set: the route answers 403")
}

// Opened for development, POST /events takes events without a token, but never the
// types the webhooks produce.
func TestEventsOpenForDevelopment(t *testing.T) {
	w := newHTTPWorld(t, ingress.IngestConfig{EventsOpen: true})
	require.Contains(t, w.logs.String(), "INGRESS_EVENTS_OPEN=true", "opening the route is logged as a warning")

	for _, typ := range []string{"stripe.paid", "stripe.customer.created", "blueprint.pushed", "github.push", "github.pull_request"} {
		t.Run(typ, func(t *testing.T) {
			res := w.send("", structuredHeader(), typedEvent(t, typ))
			requireStatus(t, http.StatusForbidden, res)
			require.Equal(t, "type", res.Body["field"])
			require.Contains(t, res.Body["error"], "may not publish "+typ)
			require.Contains(t, res.Body["error"], "INGRESS_EVENTS_TOKENS")
			w.requireNothingStored(res)
		})
	}

	// One forged payment in a batch refuses the whole batch.
	batch := mustJSON(t, []json.RawMessage{typedEvent(t, "user.signedup"), typedEvent(t, "stripe.paid")})
	res := w.send("", batchHeader(), batch)
	requireStatus(t, http.StatusForbidden, res)
	require.Equal(t, float64(1), res.Body["index"], "index: got %v, want 1", res.Body["index"])
	require.Contains(t, res.Body["error"], "nothing was published")
	w.requireNothingStored(res)

	requireStatus(t, http.StatusAccepted, w.send("", structuredHeader(), typedEvent(t, "user.signedup")))
	require.Len(t, w.stored(), 1)
}

// Each token publishes only the types of its scope; the webhooks' types only when its
// scope names them.
func TestEventsTokenScopes(t *testing.T) {
	tokens := []ingress.EventsToken{
		{Token: "tok-any-0123456789"},
		{Token: "tok-users-0123456789", Types: []string{"user.>", "email.verified"}},
		{Token: "tok-pay-0123456789", Types: []string{"stripe.>"}},
		{Token: "tok-ci-0123456789", Types: []string{"blueprint.pushed", "github.push"}},
		{Token: "tok-all-0123456789", Types: []string{">"}},
		{Token: "tok-star-0123456789", Types: []string{"*.paid", "*.pushed"}},
	}
	w := newHTTPWorld(t, ingress.IngestConfig{EventsTokens: tokens, EventsOpen: true})
	tests := []struct {
		token, typ string
		want       int
	}{
		{"tok-any-0123456789", "user.signedup", http.StatusAccepted},
		{"tok-any-0123456789", "report.note", http.StatusAccepted},
		{"tok-any-0123456789", "stripe.paid", http.StatusForbidden},
		{"tok-any-0123456789", "blueprint.pushed", http.StatusForbidden},
		{"tok-any-0123456789", "github.push", http.StatusForbidden},
		{"tok-users-0123456789", "user.signedup", http.StatusAccepted},
		{"tok-users-0123456789", "email.verified", http.StatusAccepted},
		{"tok-users-0123456789", "report.note", http.StatusForbidden},
		{"tok-users-0123456789", "stripe.paid", http.StatusForbidden},
		{"tok-pay-0123456789", "stripe.paid", http.StatusAccepted},
		{"tok-pay-0123456789", "stripe.customer.created", http.StatusAccepted},
		{"tok-pay-0123456789", "user.signedup", http.StatusForbidden},
		{"tok-pay-0123456789", "blueprint.pushed", http.StatusForbidden},
		{"tok-ci-0123456789", "blueprint.pushed", http.StatusAccepted},
		{"tok-ci-0123456789", "github.push", http.StatusAccepted},
		{"tok-ci-0123456789", "github.pull_request", http.StatusForbidden},
		{"tok-all-0123456789", "report.note", http.StatusAccepted},
		{"tok-all-0123456789", "stripe.paid", http.StatusForbidden},
		{"tok-star-0123456789", "stripe.paid", http.StatusForbidden},
		{"tok-star-0123456789", "blueprint.pushed", http.StatusForbidden},
		{"tok-star-0123456789", "invoice.paid", http.StatusAccepted},
		// A wrong token is refused even though the route is open.
		{"tok-wrong-0123456789", "user.signedup", http.StatusUnauthorized},
	}
	stored := 0
	for _, tt := range tests {
		t.Run(tt.token+" "+tt.typ, func(t *testing.T) {
			res := w.send(tt.token, structuredHeader(), typedEvent(t, tt.typ))
			requireStatus(t, tt.want, res)
			switch tt.want {
			case http.StatusAccepted:
				stored++
			case http.StatusForbidden:
				require.Equal(t, "type", res.Body["field"])
				require.Contains(t, res.Body["error"], "this token may not publish "+tt.typ)
			case http.StatusUnauthorized:
				require.Contains(t, res.Body["error"], "INGRESS_EVENTS_TOKENS")
			}
			require.Len(t, w.stored(), stored, "got %d stored, want %d", len(w.stored()), stored)
		})
	}

	// A batch within a token's scope is stored whole; one event out of it refuses it all.
	ok := mustJSON(t, []json.RawMessage{typedEvent(t, "user.signedup"), typedEvent(t, "email.verified")})
	requireStatus(t, http.StatusAccepted, w.send("tok-users-0123456789", batchHeader(), ok))
	stored += 2
	bad := mustJSON(t, []json.RawMessage{typedEvent(t, "user.signedup"), typedEvent(t, "email.verified"), typedEvent(t, "report.note")})
	res := w.send("tok-users-0123456789", batchHeader(), bad)
	requireStatus(t, http.StatusForbidden, res)
	require.Equal(t, float64(2), res.Body["index"], "index: got %v, want 2", res.Body["index"])
	require.Len(t, w.stored(), stored)

	for _, tok := range tokens {
		require.NotContains(t, w.logs.String(), tok.Token, "a token in the logs")
	}
}

// Without a token, or with a wrong one, a route that has tokens answers 401 whatever the
// event; the token never shows in the answer or the logs.
func TestEventsTokenRequired(t *testing.T) {
	const token = "tok-secret-0123456789"
	w := newHTTPWorld(t, ingress.IngestConfig{EventsTokens: []ingress.EventsToken{{Token: token}}})
	for _, header := range []string{"", "Bearer tok-secret-012345678", "Bearer " + token + "x", "Basic " + token, "Bearer "} {
		h := structuredHeader()
		if header != "" {
			h.Set("Authorization", header)
		}
		res := w.send("", h, typedEvent(t, "user.signedup"))
		requireStatus(t, http.StatusUnauthorized, res)
		require.Contains(t, res.Body["error"], "Authorization: Bearer")
		require.Contains(t, res.Body["error"], "INGRESS_EVENTS_TOKENS")
		require.NotContains(t, res.Raw, token)
		w.requireNothingStored(res)
	}
	requireStatus(t, http.StatusAccepted, w.send(token, structuredHeader(), typedEvent(t, "user.signedup")))
	require.NotContains(t, w.logs.String(), token, "a token in the logs")
}

func TestNewIngestChecksTokens(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	tests := []struct {
		name    string
		tokens  []ingress.EventsToken
		wantErr string
	}{
		{name: "empty token", tokens: []ingress.EventsToken{{Token: "tok-a"}, {}}, wantErr: "events token 2 is empty"},
		{name: "same token twice", tokens: []ingress.EventsToken{{Token: "tok-a"}, {Token: "tok-a", Types: []string{"user.>"}}}, wantErr: "events tokens 1 and 2 are the same token"},
		{name: "bad pattern", tokens: []ingress.EventsToken{{Token: "tok-a", Types: []string{"user.>.x"}}}, wantErr: "events token 1"},
		{name: "wildcard inside a token", tokens: []ingress.EventsToken{{Token: "tok-a", Types: []string{"user.sign*"}}}, wantErr: "whole tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingress.NewIngest(events.NewPublisher(nil), sch, nil, testenv.Logger(t), ingress.IngestConfig{EventsTokens: tt.tokens})
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "tok-a")
		})
	}
}
