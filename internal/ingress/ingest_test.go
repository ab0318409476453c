package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// fixedNow is the clock of every test ingest: webhook events without a time of their own
// carry it.
var fixedNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// world is one test's ingress: its own NATS server with EVENTS and EVENTS_DLQ, an
// Ingest publishing to it, mounted on a Server, and the registry of its metrics.
type world struct {
	t       *testing.T
	nats    *testenv.NATS
	handler http.Handler
	reg     *prometheus.Registry
}

func newWorld(t *testing.T, cfg ingress.IngestConfig) *world {
	t.Helper()
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
	return newWorldOn(t, n, n.JS, cfg)
}

// newWorldOn builds the ingress on js, a JetStream context of n's server. Unless cfg
// has tokens, POST /events is open (INGRESS_EVENTS_OPEN, as make dev runs it), so tests
// of other matters post without one; newWorldAsIs takes cfg as it is.
func newWorldOn(t *testing.T, n *testenv.NATS, js jetstream.JetStream, cfg ingress.IngestConfig) *world {
	t.Helper()
	if len(cfg.EventsTokens) == 0 {
		cfg.EventsOpen = true
	}
	return newWorldAsIs(t, n, js, cfg)
}

func newWorldAsIs(t *testing.T, n *testenv.NATS, js jetstream.JetStream, cfg ingress.IngestConfig) *world {
	t.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	reg := prometheus.NewRegistry()
	log := testenv.Logger(t)
	in, err := ingress.NewIngest(events.NewPublisher(js), sch, reg, log, cfg)
	require.NoError(t, err)
	srv := ingress.New(ingress.Config{}, log)
	in.Mount(srv)
	return &world{t: t, nats: n, handler: srv.Handler(), reg: reg}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// response is an answer of the ingress, its JSON body decoded.
type response struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (w *world) post(path string, header http.Header, body []byte) response {
	return w.postCtx(testCtx(w.t), path, header, body)
}

func (w *world) postCtx(ctx context.Context, path string, header http.Header, body []byte) response {
	w.t.Helper()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Raw: rec.Body.String()}
	require.Equal(w.t, "application/json", rec.Header().Get("Content-Type"), "Content-Type of answer %s", res.Raw)
	require.NoError(w.t, json.Unmarshal(rec.Body.Bytes(), &res.Body), "answer is not JSON: %s", res.Raw)
	return res
}

// stored reads back every event in the EVENTS stream, in order.
func (w *world) stored() []events.Event {
	w.t.Helper()
	ctx := testCtx(w.t)
	s, err := w.nats.JS.Stream(ctx, events.Stream)
	require.NoError(w.t, err)
	info, err := s.Info(ctx)
	require.NoError(w.t, err)
	var out []events.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		require.NoError(w.t, err)
		ev, err := events.Decode(raw.Header, raw.Data)
		require.NoError(w.t, err, "stored message %d does not decode", seq)
		out = append(out, ev)
	}
	return out
}

// requireNothingStored fails unless the EVENTS stream is empty.
func (w *world) requireNothingStored(res response) {
	w.t.Helper()
	got := w.stored()
	require.Empty(w.t, got, "stream holds %d events after a %d answer (%s), want none", len(got), res.Status, res.Raw)
}

// requireStatus fails with the answer's body when the status is not want.
func requireStatus(t *testing.T, want int, res response) {
	t.Helper()
	require.Equal(t, want, res.Status, "status: got %d, want %d; body %s", res.Status, want, res.Raw)
}

func (w *world) metrics() string {
	w.t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(w.t, err)
	return string(b)
}

func TestNewIngestValidates(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	pub := events.NewPublisher(nil)
	tests := []struct {
		name    string
		pub     ingress.Publisher
		schemas *events.Schemas
		cfg     ingress.IngestConfig
		wantErr string
	}{
		{name: "no publisher", schemas: sch, wantErr: "needs a publisher"},
		{name: "no schemas", pub: pub, wantErr: "needs a publisher and the schemas"},
		{name: "negative body limit", pub: pub, schemas: sch, cfg: ingress.IngestConfig{MaxBodyBytes: -1}, wantErr: "MaxBodyBytes -1 is negative"},
		{name: "negative in-flight cap", pub: pub, schemas: sch, cfg: ingress.IngestConfig{MaxInFlight: -1}, wantErr: "MaxInFlight -1 is negative"},
		{name: "defaults", pub: pub, schemas: sch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ingress.NewIngest(tt.pub, tt.schemas, prometheus.NewRegistry(), testenv.Logger(t), tt.cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRequestMetrics(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{StripeSecrets: []string{stripeSecret}})
	for range 2 {
		requireStatus(t, http.StatusAccepted, w.post("/events", structuredHeader(), structuredEvent(t, testenv.ID("ev-"), "user.signedup", signedUp())))
	}
	requireStatus(t, http.StatusBadRequest, w.post("/events", nil, []byte("{}")))
	requireStatus(t, http.StatusUnauthorized, w.post("/webhooks/stripe", nil, []byte("{}")))
	requireStatus(t, http.StatusServiceUnavailable, w.post("/webhooks/github", nil, []byte("{}")))

	got := w.metrics()
	for _, want := range []string{
		`flowbridge_ingress_requests_total{code="202",route="/events"} 2`,
		`flowbridge_ingress_requests_total{code="400",route="/events"} 1`,
		`flowbridge_ingress_requests_total{code="401",route="/webhooks/stripe"} 1`,
		`flowbridge_ingress_requests_total{code="503",route="/webhooks/github"} 1`,
	} {
		require.True(t, strings.Contains(got, want), "metrics: got\n%s\nwant a line %s", got, want)
	}
}
