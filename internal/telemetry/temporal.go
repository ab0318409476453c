package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// TemporalHeaderKey is the header field in which the Temporal SDKs' tracing interceptors
// carry a span ("_tracer-data", the default of go.temporal.io/sdk/contrib/opentelemetry).
const TemporalHeaderKey = "_tracer-data"

// temporalPropagator is the interceptor's default propagator (its
// DefaultTextMapPropagator): W3C trace context and baggage.
var temporalPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// TemporalHeaders writes a context's span into the header of a Temporal request (start,
// signal-with-start, signal) as the SDK's OpenTelemetry interceptor
// (temporaltrace.Interceptors) reads it on the worker: the span and its baggage
// marshalled by the interceptor's propagator (W3C trace context and baggage) into a map,
// stored as a payload of the SDK's default data converter (JSON) under TemporalHeaderKey.
// For a client that calls the workflow service directly, as the bridge does, instead of
// through the SDK's client. It is written here rather than with the interceptor's own
// tracer, which would link the SDK's workflow package into the bridge; temporaltrace's
// tests hold the two to one format.
type TemporalHeaders struct{}

// NewTemporalHeaders returns a TemporalHeaders with the interceptor's default options,
// the ones temporaltrace.Interceptors uses. It returns no error today.
func NewTemporalHeaders() (*TemporalHeaders, error) {
	return &TemporalHeaders{}, nil
}

// Header returns the header that carries ctx's span, or nil when ctx has no valid span.
func (h *TemporalHeaders) Header(ctx context.Context) (*commonpb.Header, error) {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return nil, nil
	}
	data := propagation.MapCarrier{}
	carried := baggage.ContextWithBaggage(context.Background(), baggage.FromContext(ctx))
	temporalPropagator.Inject(trace.ContextWithSpan(carried, span), data)
	if len(data) == 0 {
		return nil, nil
	}
	payload, err := converter.GetDefaultDataConverter().ToPayload(data)
	if err != nil {
		return nil, fmt.Errorf("encode trace header: %w", err)
	}
	return &commonpb.Header{Fields: map[string]*commonpb.Payload{TemporalHeaderKey: payload}}, nil
}
