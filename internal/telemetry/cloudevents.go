package telemetry

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/events"
)

// The attributes of the CloudEvents distributed tracing extension: the W3C trace context
// (https://www.w3.org/TR/trace-context/) of the event's creation. On NATS, in binary
// mode, they travel as the headers ce-traceparent and ce-tracestate.
const (
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

// traceContext reads and writes W3C trace context: traceparent and tracestate.
var traceContext propagation.TraceContext

// EventSpanContext is the trace context an event arrived with: its traceparent and
// tracestate extension, else the W3C traceparent and tracestate headers of its NATS
// message h (a publisher that traces its messages rather than its events; h may be nil).
// It is not valid (IsValid false) when neither is there or what is there is malformed.
func EventSpanContext(ev *events.Event, h nats.Header) trace.SpanContext {
	if ev != nil && ev.Context != nil {
		if sc := extract(eventCarrier{ev}); sc.IsValid() {
			return sc
		}
	}
	if len(h) > 0 {
		return extract(headerCarrier(h))
	}
	return trace.SpanContext{}
}

func extract(c propagation.TextMapCarrier) trace.SpanContext {
	if c.Get(ExtTraceParent) == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), c))
}

// InjectEvent sets ev's traceparent and tracestate extension to the span of ctx, unless
// ev already carries a valid traceparent: that is its creation's context, which the
// extension's specification says is not to be changed on the way. It does nothing
// when ctx has no valid span.
func InjectEvent(ctx context.Context, ev *events.Event) {
	if EventSpanContext(ev, nil).IsValid() {
		return
	}
	traceContext.Inject(ctx, eventCarrier{ev})
}

// eventCarrier reads and writes an event's extension attributes.
type eventCarrier struct{ ev *events.Event }

func (c eventCarrier) Get(key string) string {
	v, ok := c.ev.Extensions()[key]
	if !ok {
		return ""
	}
	s, err := types.Format(v)
	if err != nil {
		return ""
	}
	return s
}

func (c eventCarrier) Set(key, value string) { c.ev.SetExtension(key, value) }

func (c eventCarrier) Keys() []string { return []string{ExtTraceParent, ExtTraceState} }

// headerCarrier reads a NATS message's headers, case-insensitively.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return events.HeaderValue(nats.Header(c), key) }

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
