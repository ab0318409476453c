package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	commonpb "go.temporal.io/api/common/v1"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
)

// TemporalInterceptors are the client interceptors that trace with tp: the Temporal
// SDK's OpenTelemetry tracing interceptor (go.temporal.io/sdk/contrib/opentelemetry).
// Set on a client's options, it makes spans for what the client does and for the
// workflows and activities of the workers built on that client (RunWorkflow:<type>,
// StartActivity:<name>, RunActivity:<name>, HandleSignal:<name>), each the child of the
// span in the header it arrived with (TemporalHeaders), and puts an activity's span in
// its context, so the spans of the result events it publishes (TracePublisher) are its
// children. With tp nil there are none.
func TemporalInterceptors(tp trace.TracerProvider) ([]interceptor.ClientInterceptor, error) {
	if tp == nil {
		return nil, nil
	}
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("temporal-sdk-go")})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}

// TemporalHeaders writes a context's span into the header of a Temporal request (start,
// signal-with-start, signal) as the interceptor of TemporalInterceptors reads it on the worker: the
// interceptor's own tracer marshals the span (its propagator: W3C trace context and
// baggage) into a map, stored as a payload of the SDK's default data converter (JSON)
// under the interceptor's header key ("_tracer-data"). For a client that calls the
// workflow service directly, as the bridge does, instead of through the SDK's client.
type TemporalHeaders struct {
	tracer interceptor.Tracer
	key    string
}

// NewTemporalHeaders returns a TemporalHeaders with the interceptor's default options,
// the ones TemporalInterceptors uses.
func NewTemporalHeaders() (*TemporalHeaders, error) {
	// The tracer only marshals spans here: it starts none, so a no-op one will do.
	t, err := temporalotel.NewTracer(temporalotel.TracerOptions{Tracer: tracenoop.NewTracerProvider().Tracer("")})
	if err != nil {
		return nil, fmt.Errorf("temporal tracer: %w", err)
	}
	return &TemporalHeaders{tracer: t, key: t.Options().HeaderKey}, nil
}

// Header returns the header that carries ctx's span, or nil when ctx has no valid span.
func (h *TemporalHeaders) Header(ctx context.Context) (*commonpb.Header, error) {
	span := h.tracer.SpanFromContext(ctx)
	if span == nil {
		return nil, nil
	}
	data, err := h.tracer.MarshalSpan(span)
	if err != nil || len(data) == 0 {
		return nil, err
	}
	payload, err := converter.GetDefaultDataConverter().ToPayload(data)
	if err != nil {
		return nil, fmt.Errorf("encode trace header: %w", err)
	}
	return &commonpb.Header{Fields: map[string]*commonpb.Payload{h.key: payload}}, nil
}
