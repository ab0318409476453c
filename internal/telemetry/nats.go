package telemetry

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/events"
)

// MessagingSystem is messaging.system on every NATS span.
const MessagingSystem = "nats"

// Attributes of flowbridge's own on NATS spans, beside the conventions'.
const (
	// AttrStreamSequence is the event's sequence on its stream.
	AttrStreamSequence = attribute.Key("flowbridge.stream_seq")
	// AttrDuplicate is true on a publish the stream dropped as a duplicate of its id.
	AttrDuplicate = attribute.Key("flowbridge.duplicate")
)

var systemNATS = semconv.MessagingSystemKey.String(MessagingSystem)

// eventAttributes are the CloudEvents conventions' attributes of ev.
func eventAttributes(ev *events.Event) []attribute.KeyValue {
	if ev == nil || ev.Context == nil {
		return nil
	}
	attrs := []attribute.KeyValue{
		semconv.CloudEventsEventID(ev.ID()),
		semconv.CloudEventsEventType(ev.Type()),
		semconv.CloudEventsEventSource(ev.Source()),
		semconv.CloudEventsEventSpecVersion(ev.SpecVersion()),
	}
	if s := ev.Subject(); s != "" {
		attrs = append(attrs, semconv.CloudEventsEventSubject(s))
	}
	return attrs
}

// Publisher stores an event on the stream, as *events.Publisher does: Publish returns
// once the stream has stored it, and is safe for concurrent use.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (events.PublishResult, error)
}

var _ Publisher = (*events.Publisher)(nil)

// TracePublisher returns pub with a producer span per publish ("publish events.<type>",
// a child of ctx's span) whose trace context the published event carries in its
// traceparent extension, so the consumer's span is its child. An event that already
// carries a traceparent (a client's, on POST /events) keeps it, and the span links to
// it. With tp nil it returns pub itself.
func TracePublisher(pub Publisher, tp trace.TracerProvider) Publisher {
	if tp == nil {
		return pub
	}
	return &tracedPublisher{pub: pub, tracer: tp.Tracer(ScopeName)}
}

type tracedPublisher struct {
	pub    Publisher
	tracer trace.Tracer
}

func (p *tracedPublisher) Publish(ctx context.Context, ev events.Event) (events.PublishResult, error) {
	subject, name := events.Subject(ev.Type()), "publish"
	if events.CheckType(ev.Type()) == nil {
		name += " " + subject // else Publish refuses it: no invalid subject in a span name
	}
	attrs := append([]attribute.KeyValue{
		systemNATS,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(subject),
		semconv.MessagingMessageID(ev.ID()),
		semconv.MessagingMessageBodySize(len(ev.Data())),
	}, eventAttributes(&ev)...)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...)}
	created := EventSpanContext(&ev, nil)
	if created.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: created}))
	}
	ctx, span := p.tracer.Start(ctx, name, opts...)
	defer span.End()
	if !created.IsValid() {
		ev = ev.Clone() // the caller's event shares its attributes with ev
		InjectEvent(ctx, &ev)
	}
	res, err := p.pub.Publish(ctx, ev)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return res, err
	}
	span.SetAttributes(AttrStreamSequence.Int64(int64(res.Sequence)), AttrDuplicate.Bool(res.Duplicate))
	return res, nil
}

// Delivery is one message as a JetStream consumer received it.
type Delivery struct {
	// Subject is the subject it arrived on.
	Subject string
	// Template names the span instead of Subject when Subject is one of many (the waiting
	// room's waiting.<hash>): messaging.destination.template. Optional.
	Template string
	// Consumer is the durable consumer's name: messaging.consumer.group.name.
	Consumer string
	// Header is the message's NATS headers, read when the event carries no traceparent.
	Header nats.Header
	// BodySize is the message body's length in bytes.
	BodySize int
}

// StartProcess starts the consumer span of processing one delivery of ev ("process
// <subject>"), the child of the trace context ev arrived with (EventSpanContext), else
// the root of a new trace: never the child of a span ctx holds, since one delivery's
// context is not another's. ev may be the zero Event (a message that did not decode).
// The caller ends the span.
func StartProcess(ctx context.Context, tracer trace.Tracer, ev *events.Event, d Delivery, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	attrs = append(attrs,
		systemNATS,
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(d.Subject),
		semconv.MessagingConsumerGroupName(d.Consumer),
		semconv.MessagingMessageBodySize(d.BodySize),
	)
	name := d.Subject
	if d.Template != "" {
		name = d.Template
		attrs = append(attrs, semconv.MessagingDestinationTemplate(d.Template))
	}
	if ev != nil && ev.Context != nil && ev.ID() != "" {
		attrs = append(attrs, semconv.MessagingMessageID(ev.ID()))
	}
	attrs = append(attrs, eventAttributes(ev)...)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if parent := EventSpanContext(ev, d.Header); parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	return tracer.Start(ctx, "process "+name, opts...)
}
