package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/telemetry"
)

// A request is a server span named by its route, the child of its W3C traceparent header,
// and the handler's context holds it.
func TestTraceHTTP(t *testing.T) {
	tp, rec := recorder(t)
	mux := http.NewServeMux()
	var inHandler trace.SpanContext
	telemetry.TraceHTTP(mux, tp).Handle("POST /webhooks/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusAccepted)
	}))
	web := httptest.NewServer(mux)
	defer web.Close()

	caller := remote(t)
	req, err := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", nil)
	require.NoError(t, err)
	req.Header.Set("traceparent", traceparent(caller))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	spans := rec.Ended()
	require.Len(t, spans, 1)
	span := spans[0]
	require.Equal(t, "POST /webhooks/{name}", span.Name())
	require.Equal(t, trace.SpanKindServer, span.SpanKind())
	require.Equal(t, caller.TraceID(), span.SpanContext().TraceID())
	require.Equal(t, caller.SpanID(), span.Parent().SpanID())
	require.Equal(t, span.SpanContext().SpanID(), inHandler.SpanID(), "the handler's context holds the span")
	require.Equal(t, "202", attr(span, "http.response.status_code"))
	require.Equal(t, "/webhooks/{name}", attr(span, "http.route"))

	require.Same(t, mux, telemetry.TraceHTTP(mux, nil), "off: the mux itself")
}
