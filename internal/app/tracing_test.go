package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// collector is an OTLP/HTTP trace collector that keeps every span it is sent.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

// byName returns the spans of trace traceID, by name.
func (c *collector) byName(traceID []byte) map[string]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*tracepb.Span{}
	for _, s := range c.spans {
		if bytes.Equal(s.GetTraceId(), traceID) {
			out[s.GetName()] = s
		}
	}
	return out
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the bridge process exports the spans of a request
// to POST /events (the child of its traceparent header), of the publish, and of the
// bridge's delivery, all in the caller's trace, flushed when it stops.
func TestBridgeExportsTraces(t *testing.T) {
	col := newCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL) // the exporter reads it itself
	b := newTestBridgeWith(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "INGRESS_EVENTS_OPEN": "true"})
	stop, done, runErr := b.start(t)

	traceID, spanID := make([]byte, 16), make([]byte, 8)
	_, _ = rand.Read(traceID)
	_, _ = rand.Read(spanID)
	id := testenv.ID("evt-")
	body := `{"specversion":"1.0","id":"` + id + `","type":"payment.processed","source":"/tests",` +
		`"datacontenttype":"application/json","data":{"payment_id":"p","tenant_id":"t","notification_id":"n"}}`
	var status int
	testenv.Eventually(t, 30*time.Second, func() bool { // until the stream exists
		req, err := http.NewRequest(http.MethodPost, b.public+"/events", bytes.NewBufferString(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set("traceparent", "00-"+hex.EncodeToString(traceID)+"-"+hex.EncodeToString(spanID)+"-01")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		status = res.StatusCode
		return status == http.StatusAccepted
	}, "POST /events: got %d, want 202", status)

	// The bridge acked it (no route takes payment.processed: ignored).
	testenv.Eventually(t, 30*time.Second, func() bool {
		c, err := b.nats.JS.Consumer(context.Background(), events.Stream, events.BridgeConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream >= 1
	}, "the bridge did not ack the event")
	stop()
	<-done
	require.NoError(t, *runErr)

	spans := col.byName(traceID)
	server, published, processed := spans["POST /events"], spans["publish events.payment.processed"], spans["process events.payment.processed"]
	require.NotNil(t, server, "got spans %v", spans)
	require.NotNil(t, published, "got spans %v", spans)
	require.NotNil(t, processed, "got spans %v", spans)
	require.Equal(t, spanID, server.GetParentSpanId(), "the request's span is the child of its traceparent")
	require.Equal(t, server.GetSpanId(), published.GetParentSpanId())
	require.Equal(t, published.GetSpanId(), processed.GetParentSpanId())
}
