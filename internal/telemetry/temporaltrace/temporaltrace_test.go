package temporaltrace_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/telemetry/temporaltrace"
)

// The bridge's header is the one the interceptor's own tracer writes: the same key and
// the same map, span and baggage alike, so the worker's interceptor reads it.
func TestBridgeHeaderIsTheInterceptors(t *testing.T) {
	sdkTracer, err := temporalotel.NewTracer(temporalotel.TracerOptions{Tracer: tracenoop.NewTracerProvider().Tracer("")})
	require.NoError(t, err)
	require.Equal(t, sdkTracer.Options().HeaderKey, telemetry.TemporalHeaderKey)

	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	member, err := baggage.NewMember("tenant", "t1")
	require.NoError(t, err)
	bag, err := baggage.New(member)
	require.NoError(t, err)
	ctx, span := tp.Tracer("test").Start(baggage.ContextWithBaggage(context.Background(), bag), "delivery")
	defer span.End()

	want, err := sdkTracer.MarshalSpan(sdkTracer.SpanFromContext(ctx))
	require.NoError(t, err)
	headers, err := telemetry.NewTemporalHeaders()
	require.NoError(t, err)
	h, err := headers.Header(ctx)
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(h.GetFields()[telemetry.TemporalHeaderKey], &got))
	require.Equal(t, want, got)
	require.Contains(t, got, "baggage")
}

func TestTraceOffIsNoInterceptor(t *testing.T) {
	hs, err := temporaltrace.Interceptors(nil)
	require.NoError(t, err)
	require.Empty(t, hs)
}
