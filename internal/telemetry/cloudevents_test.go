package telemetry_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/telemetry"
)

func TestEventSpanContext(t *testing.T) {
	ext, hdr := remote(t), remote(t)
	tests := []struct {
		name   string
		ev     func() *events.Event
		header nats.Header
		want   trace.SpanContext
	}{
		{name: "the extension", want: ext, ev: func() *events.Event {
			ev := event(t, "user.signedup", map[string]string{})
			ev.SetExtension(telemetry.ExtTraceParent, traceparent(ext))
			return &ev
		}},
		{name: "the extension wins over a header", want: ext, header: nats.Header{"traceparent": {traceparent(hdr)}}, ev: func() *events.Event {
			ev := event(t, "user.signedup", map[string]string{})
			ev.SetExtension(telemetry.ExtTraceParent, traceparent(ext))
			return &ev
		}},
		{name: "a W3C header, any case", want: hdr, header: nats.Header{"Traceparent": {traceparent(hdr)}}, ev: func() *events.Event {
			ev := event(t, "user.signedup", map[string]string{})
			return &ev
		}},
		{name: "a malformed extension falls back to the header", want: hdr, header: nats.Header{"traceparent": {traceparent(hdr)}}, ev: func() *events.Event {
			ev := event(t, "user.signedup", map[string]string{})
			ev.SetExtension(telemetry.ExtTraceParent, "00-not-a-trace-01")
			return &ev
		}},
		{name: "nothing", ev: func() *events.Event { ev := event(t, "user.signedup", map[string]string{}); return &ev }},
		{name: "an event that did not decode", ev: func() *events.Event { return &events.Event{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := telemetry.EventSpanContext(tt.ev(), tt.header)
			require.Equal(t, tt.want.IsValid(), got.IsValid(), "valid: got %v, want %v", got.IsValid(), tt.want.IsValid())
			if tt.want.IsValid() {
				require.Equal(t, tt.want.TraceID(), got.TraceID())
				require.Equal(t, tt.want.SpanID(), got.SpanID())
				require.True(t, got.IsRemote())
			}
		})
	}
}

func TestInjectEvent(t *testing.T) {
	tp, _ := recorder(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "creating")
	defer span.End()

	t.Run("sets the span's context", func(t *testing.T) {
		ev := event(t, "payment.processed", map[string]string{})
		telemetry.InjectEvent(ctx, &ev)
		require.Equal(t, traceparent(span.SpanContext()), ev.Extensions()[telemetry.ExtTraceParent])
		// It survives the trip through NATS headers, as the bridge decodes it.
		m, err := events.Encode(ev)
		require.NoError(t, err)
		back, err := events.Decode(m.Header, m.Data)
		require.NoError(t, err)
		require.Equal(t, span.SpanContext().SpanID(), telemetry.EventSpanContext(&back, nil).SpanID())
	})
	t.Run("keeps the event's own", func(t *testing.T) {
		created := remote(t)
		ev := event(t, "payment.processed", map[string]string{})
		ev.SetExtension(telemetry.ExtTraceParent, traceparent(created))
		telemetry.InjectEvent(ctx, &ev)
		require.Equal(t, traceparent(created), ev.Extensions()[telemetry.ExtTraceParent])
	})
	t.Run("nothing without a span", func(t *testing.T) {
		ev := event(t, "payment.processed", map[string]string{})
		telemetry.InjectEvent(context.Background(), &ev)
		require.NotContains(t, ev.Extensions(), telemetry.ExtTraceParent)
	})
}
