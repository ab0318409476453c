// Package telemetry is flowbridge's tracing: one trace from a webhook to the result events
// of the workflow it started, across every door an event passes.
//
//   - HTTP ingress: TraceHTTP starts a server span per request, the child of a W3C
//     traceparent request header when there is one.
//   - Publishing: TracePublisher makes a producer span per event published and stores its
//     trace context in the event, as the CloudEvents distributed tracing extension
//     (traceparent, tracestate) that the next hop reads (InjectEvent).
//   - Consuming: StartProcess makes a consumer span per delivery, the child of the
//     event's extension (EventSpanContext), else of the message's W3C headers, else the
//     root of a new trace.
//   - Temporal: TemporalHeaders writes the trace context into a request's header the way
//     the Temporal SDK's OpenTelemetry interceptor (temporaltrace.Interceptors) reads it, so a
//     worker's workflow and activity spans join the trace of the event that started them.
//
// Spans follow the OpenTelemetry messaging conventions (messaging.system nats, the subject
// as destination, the event id as message id) and the CloudEvents ones. Setup builds the
// tracer provider from the standard OTEL_* variables; without an exporter it returns none,
// and every helper here then does nothing at all, so that tracing costs the hot path
// nothing when it is off.
package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/version"
)

// ScopeName is the instrumentation scope of flowbridge's own spans.
const ScopeName = "github.com/flowbridge/flowbridge"

// Setup returns the tracer provider of the binary service ("flowbridge-bridge",
// "flowbridge-worker"), exporting over OTLP as cfg and the OTEL_* variables say, and a
// shutdown that flushes the spans not yet exported (call it before the process exits,
// with a deadline). When cfg exports nothing, the provider is nil and shutdown does
// nothing: pass nil on, and no span is made anywhere.
//
// The exporter reads its endpoint, headers, TLS, timeout and compression from the
// environment (OTEL_EXPORTER_OTLP_*); the provider its sampler (OTEL_TRACES_SAMPLER,
// default parentbased_always_on) and batching (OTEL_BSP_*); the resource
// OTEL_SERVICE_NAME (which wins over service) and OTEL_RESOURCE_ATTRIBUTES. Exporting is
// asynchronous: a collector that is down loses spans, never slows an event.
func Setup(ctx context.Context, cfg config.Tracing, service string) (trace.TracerProvider, func(context.Context) error, error) {
	if !cfg.Enabled() {
		return nil, func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch cfg.Protocol {
	case config.OTLPProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version.String())),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // last: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}
