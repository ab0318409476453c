package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// storedEvent returns the event the stream holds at seq, decoded as the bridge does.
func storedEvent(t *testing.T, nt *testenv.NATS, seq uint64) events.Event {
	t.Helper()
	s, err := nt.JS.Stream(context.Background(), events.Stream)
	require.NoError(t, err)
	m, err := s.GetMsg(context.Background(), seq)
	require.NoError(t, err)
	ev, err := events.Decode(m.Header, m.Data)
	require.NoError(t, err)
	return ev
}

// A publish is a producer span, the child of the caller's, and the stored event carries
// it as its traceparent; an event with a traceparent of its own keeps it.
func TestTracePublisher(t *testing.T) {
	nt := testenv.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, events.EnsureStreams(ctx, nt.JS, 2*time.Minute))
	tp, rec := recorder(t)
	pub := telemetry.TracePublisher(events.NewPublisher(nt.JS), tp)
	parentCtx, parent := tp.Tracer("test").Start(ctx, "activity")
	defer parent.End()

	t.Run("new trace context", func(t *testing.T) {
		ev := event(t, "payment.processed", map[string]string{"payment_id": "p"})
		res, err := pub.Publish(parentCtx, ev)
		require.NoError(t, err)
		require.NotContains(t, ev.Extensions(), telemetry.ExtTraceParent, "the caller's event is not changed")

		ended := rec.Ended()
		span := ended[len(ended)-1]
		require.Equal(t, "publish events.payment.processed", span.Name())
		require.Equal(t, trace.SpanKindProducer, span.SpanKind())
		require.Equal(t, parent.SpanContext().SpanID(), span.Parent().SpanID())
		for key, want := range map[string]string{
			"messaging.system": "nats", "messaging.operation.type": "send", "messaging.operation.name": "publish",
			"messaging.destination.name": "events.payment.processed", "messaging.message.id": ev.ID(),
			"cloudevents.event_id": ev.ID(), "cloudevents.event_type": "payment.processed", "cloudevents.event_source": "/tests",
			"flowbridge.duplicate": "false",
		} {
			require.Equal(t, want, attr(span, key), "%s: got %q, want %q", key, attr(span, key), want)
		}
		stored := storedEvent(t, nt, res.Sequence)
		require.Equal(t, traceparent(span.SpanContext()), stored.Extensions()[telemetry.ExtTraceParent])
	})
	t.Run("the event's own", func(t *testing.T) {
		created := remote(t)
		ev := event(t, "payment.processed", map[string]string{"payment_id": "p"})
		ev.SetExtension(telemetry.ExtTraceParent, traceparent(created))
		res, err := pub.Publish(parentCtx, ev)
		require.NoError(t, err)

		ended := rec.Ended()
		span := ended[len(ended)-1]
		require.Equal(t, parent.SpanContext().SpanID(), span.Parent().SpanID())
		require.Len(t, span.Links(), 1)
		require.Equal(t, created.SpanID(), span.Links()[0].SpanContext.SpanID(), "linked to the event's creation")
		require.Equal(t, traceparent(created), storedEvent(t, nt, res.Sequence).Extensions()[telemetry.ExtTraceParent])
	})
	t.Run("a refused event", func(t *testing.T) {
		ev := event(t, "payment.processed", map[string]string{})
		ev.SetID("") // invalid
		_, err := pub.Publish(parentCtx, ev)
		require.ErrorIs(t, err, events.ErrMalformed)
		ended := rec.Ended()
		span := ended[len(ended)-1]
		require.Equal(t, "Error", span.Status().Code.String())
	})
}

func TestTraceOffIsNothing(t *testing.T) {
	pub := events.NewPublisher(nil)
	require.Same(t, pub, telemetry.TracePublisher(pub, nil))
}

// StartProcess makes a consumer span, the child of the event's trace context; without
// one it starts a trace, whatever span the context holds.
func TestStartProcess(t *testing.T) {
	tp, rec := recorder(t)
	tracer := tp.Tracer("test")
	busyCtx, busy := tracer.Start(context.Background(), "another delivery")
	defer busy.End()

	created := remote(t)
	ev := event(t, "user.signedup", map[string]string{})
	ev.SetExtension(telemetry.ExtTraceParent, traceparent(created))
	_, span := telemetry.StartProcess(busyCtx, tracer, &ev, telemetry.Delivery{Subject: "events.user.signedup", Consumer: "bridge", BodySize: 12})
	span.End()
	got := rec.Ended()[0]
	require.Equal(t, "process events.user.signedup", got.Name())
	require.Equal(t, trace.SpanKindConsumer, got.SpanKind())
	require.Equal(t, created.SpanID(), got.Parent().SpanID())
	require.Equal(t, "bridge", attr(got, "messaging.consumer.group.name"))
	require.Equal(t, "12", attr(got, "messaging.message.body.size"))

	plain := event(t, "user.signedup", map[string]string{})
	_, span = telemetry.StartProcess(busyCtx, tracer, &plain, telemetry.Delivery{Subject: "waiting.abc", Template: events.WaitingSubjects, Consumer: events.WaitingConsumer})
	span.End()
	got = rec.Ended()[1]
	require.Equal(t, "process waiting.>", got.Name())
	require.False(t, got.Parent().IsValid(), "got parent %v, want a new trace", got.Parent())
	require.NotEqual(t, busy.SpanContext().TraceID(), got.SpanContext().TraceID())
}
