package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Mux is where routes are mounted: *ingress.Server and *http.ServeMux are both one.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// TraceHTTP returns m with a server span ("POST /webhooks/stripe", the HTTP conventions'
// attributes) around every handler mounted on it (otelhttp): the child of the request's
// W3C traceparent header when it has one, else the root of a new trace. The handler's
// context holds the span, so what it publishes (TracePublisher) joins the trace. Metrics
// are not its job: the ingress counts its requests in Prometheus. With tp nil it
// returns m itself.
func TraceHTTP(m Mux, tp trace.TracerProvider) Mux {
	if tp == nil {
		return m
	}
	return tracedMux{m: m, opts: []otelhttp.Option{
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(traceContext),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	}}
}

type tracedMux struct {
	m    Mux
	opts []otelhttp.Option
}

func (t tracedMux) Handle(pattern string, h http.Handler) {
	t.m.Handle(pattern, otelhttp.NewHandler(h, pattern, t.opts...))
}
