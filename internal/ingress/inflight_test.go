package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// heldPublisher is the real publisher held at the door: each Publish says it has begun
// and waits for release before it stores the event, so a test can keep requests in flight.
type heldPublisher struct {
	pub     *events.Publisher
	begun   chan struct{}
	release chan struct{}
}

func (p *heldPublisher) Publish(ctx context.Context, ev events.Event) (events.PublishResult, error) {
	p.begun <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
		return events.PublishResult{}, ctx.Err()
	}
	return p.pub.Publish(ctx, ev)
}

// readSpy is a request body that notes whether anyone read it.
type readSpy struct {
	r    *bytes.Reader
	read atomic.Bool
}

func (s *readSpy) Read(p []byte) (int, error) {
	s.read.Store(true)
	return s.r.Read(p)
}

// TestInFlightCap: with MaxInFlight requests held in flight, one more is answered 503 with
// Retry-After and a JSON refusal, its body unread and nothing published; once the held
// requests finish, the next is served.
func TestInFlightCap(t *testing.T) {
	const max = 3
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 2*time.Minute))
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	pub := &heldPublisher{pub: events.NewPublisher(n.JS), begun: make(chan struct{}, max), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	in, err := ingress.NewIngest(pub, sch, reg, testenv.Logger(t), ingress.IngestConfig{EventsOpen: true, MaxInFlight: max})
	require.NoError(t, err)
	srv := ingress.New(ingress.Config{}, testenv.Logger(t))
	in.Mount(srv)
	w := &world{t: t, nats: n, handler: srv.Handler(), reg: reg}

	ctx := testCtx(t)
	held := make(chan int, max)
	for range max {
		body := structuredEvent(t, testenv.ID("ev-"), "user.signedup", signedUp())
		go func() {
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/events", bytes.NewReader(body))
			req.Header.Set("Content-Type", structuredHeader().Get("Content-Type"))
			rec := httptest.NewRecorder()
			w.handler.ServeHTTP(rec, req)
			held <- rec.Code
		}()
	}
	for i := range max {
		select {
		case <-pub.begun:
		case <-ctx.Done():
			t.Fatalf("only %d of %d requests reached the publisher", i, max)
		}
	}

	spy := &readSpy{r: bytes.NewReader(structuredEvent(t, testenv.ID("ev-"), "user.signedup", signedUp()))}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/events", spy)
	req.Header.Set("Content-Type", structuredHeader().Get("Content-Type"))
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "request over the cap: got %d, want 503; body %s", rec.Code, rec.Body)
	require.Equal(t, "1", rec.Header().Get("Retry-After"), "Retry-After: got %q, want 1", rec.Header().Get("Retry-After"))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var refusal map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &refusal), "refusal is not JSON: %s", rec.Body)
	require.Contains(t, refusal["error"], "INGRESS_MAX_IN_FLIGHT")
	require.False(t, spy.read.Load(), "the refused request's body was read")

	close(pub.release)
	for range max {
		select {
		case code := <-held:
			require.Equal(t, http.StatusAccepted, code, "held request: got %d, want 202", code)
		case <-ctx.Done():
			t.Fatal("held requests did not finish")
		}
	}
	require.Len(t, w.stored(), max, "stored: the held requests' events and not the refused one")

	go func() { <-pub.begun }()
	requireStatus(t, http.StatusAccepted, w.post("/events", structuredHeader(), structuredEvent(t, testenv.ID("ev-"), "user.signedup", signedUp())))
	require.Contains(t, w.metrics(), `flowbridge_ingress_requests_total{code="503",route="/events"} 1`)
}
