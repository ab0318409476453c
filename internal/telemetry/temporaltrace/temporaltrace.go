// Package temporaltrace is the worker's side of tracing through Temporal: the Temporal
// SDK's OpenTelemetry tracing interceptor. It is a package of its own because the
// interceptor links the SDK's workflow package, which the bridge binary must not link;
// the bridge writes the interceptor's header itself (telemetry.TemporalHeaders).
package temporaltrace

import (
	"fmt"

	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Interceptors are the client interceptors that trace with tp: the Temporal SDK's
// OpenTelemetry tracing interceptor (go.temporal.io/sdk/contrib/opentelemetry). Set on a
// client's options, it makes spans for what the client does and for the workflows and
// activities of the workers built on that client (RunWorkflow:<type>,
// StartActivity:<name>, RunActivity:<name>, HandleSignal:<name>), each the child of the
// span in the header it arrived with (telemetry.TemporalHeaders), and puts an activity's
// span in its context, so the spans of the result events it publishes
// (telemetry.TracePublisher) are its children. With tp nil there are none.
func Interceptors(tp trace.TracerProvider) ([]interceptor.ClientInterceptor, error) {
	if tp == nil {
		return nil, nil
	}
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("temporal-sdk-go")})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}
