package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/telemetry"
)

// The header holds the span under the SDK interceptor's key, as a JSON map of W3C trace
// context. (That the SDK's interceptor reads it is TestWorkflowSpanIsChildOfBridgeSpan's
// job, in internal/bridge, against a real worker.)
func TestTemporalHeaders(t *testing.T) {
	headers, err := telemetry.NewTemporalHeaders()
	require.NoError(t, err)

	h, err := headers.Header(context.Background())
	require.NoError(t, err)
	require.Nil(t, h, "no span, no header")

	tp, _ := recorder(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "delivery")
	defer span.End()
	h, err = headers.Header(ctx)
	require.NoError(t, err)
	require.Len(t, h.GetFields(), 1)
	payload := h.GetFields()["_tracer-data"]
	require.NotNil(t, payload, "got fields %v, want _tracer-data", h.GetFields())
	require.Equal(t, "json/plain", string(payload.GetMetadata()["encoding"]))
	var carried map[string]string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(payload, &carried))
	require.Equal(t, traceparent(span.SpanContext()), carried["traceparent"])
}
