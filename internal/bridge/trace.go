package bridge

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/internal/telemetry"
)

// Attributes of a delivery's span, beside the messaging and CloudEvents conventions'
// (telemetry.StartProcess). Route, action and workflow id are the first route's; an
// event that several routes take has a span event per route ("route") as well.
const (
	attrOutcome    = attribute.Key("flowbridge.outcome") // an Outcome* constant
	attrRoute      = attribute.Key("flowbridge.route")
	attrAction     = attribute.Key("flowbridge.action")
	attrWorkflowID = attribute.Key("flowbridge.workflow_id")
	attrRunID      = attribute.Key("flowbridge.run_id")
	attrResult     = attribute.Key("flowbridge.result") // done, duplicate, ignored, retry, failed, waiting
	attrDelivered  = attribute.Key("flowbridge.delivered")
)

// tracing is what the bridge traces with; nil when Config.TracerProvider is nil, and
// then the bridge makes no span and writes no header: nothing on the hot path.
type tracing struct {
	tracer  trace.Tracer
	headers *telemetry.TemporalHeaders
}

func newTracing(tp trace.TracerProvider) (*tracing, error) {
	if tp == nil {
		return nil, nil
	}
	h, err := telemetry.NewTemporalHeaders()
	if err != nil {
		return nil, err
	}
	return &tracing{tracer: tp.Tracer(telemetry.ScopeName), headers: h}, nil
}

// startDelivery starts the span of one delivery ("process events.<type>"), the child of
// the trace context the event came with, else the root of a new trace; nil when the
// bridge does not trace. The returned context holds it: the Temporal calls of the
// delivery carry it in their header (temporalHeader).
func (b *Bridge) startDelivery(ctx context.Context, it item, delivered uint64) (context.Context, trace.Span) {
	if b.tracing == nil {
		return ctx, nil
	}
	return b.startSpan(ctx, it, delivered)
}

// startSpan is startDelivery's work, apart so that it moves nothing to the heap when the
// bridge does not trace.
func (b *Bridge) startSpan(ctx context.Context, it item, delivered uint64) (context.Context, trace.Span) {
	d := telemetry.Delivery{Subject: it.msg.Subject(), Consumer: b.cfg.Consumer, Header: it.msg.Headers(), BodySize: len(it.msg.Data())}
	if it.parked != nil {
		d.Template, d.Consumer = events.WaitingSubjects, events.WaitingConsumer
	}
	attrs := []attribute.KeyValue{attrDelivered.Int64(int64(delivered))}
	if len(it.decisions) > 0 {
		attrs = append(attrs, decisionAttributes(it.decisions[0])...)
	}
	return telemetry.StartProcess(ctx, b.tracing.tracer, &it.ev, d, attrs...)
}

func decisionAttributes(d routing.Decision) []attribute.KeyValue {
	return []attribute.KeyValue{attrRoute.String(d.Route), attrAction.String(string(d.Action)), attrWorkflowID.String(d.WorkflowID)}
}

// endDelivery ends span (nil: nothing) with what happened to the delivery: its outcome,
// what each route did, and an error status when it was retried or dead-lettered.
func endDelivery(span trace.Span, out *Outcome) {
	if span == nil {
		return
	}
	span.SetAttributes(attrOutcome.String(out.Outcome))
	for i, r := range out.Routes {
		attrs := []attribute.KeyValue{attrRoute.String(r.Route), attrAction.String(r.Action), attrWorkflowID.String(r.WorkflowID), attrRunID.String(r.RunID), attrResult.String(r.Result)}
		if i == 0 {
			span.SetAttributes(attrs...)
		}
		if len(out.Routes) > 1 {
			span.AddEvent("route", trace.WithAttributes(attrs...))
		}
	}
	switch out.Outcome {
	case OutcomeRetried, OutcomeDeadLettered:
		span.SetStatus(codes.Error, out.Error)
	}
	span.End()
}

// temporalHeader is the header of a Temporal request that carries ctx's span to the
// worker, where the SDK's tracing interceptor makes its workflow's span a child of it;
// nil when the bridge does not trace.
func (b *Bridge) temporalHeader(ctx context.Context) *commonpb.Header {
	if b.tracing == nil {
		return nil
	}
	h, err := b.tracing.headers.Header(ctx)
	if err != nil { // cannot happen: a map of strings always encodes
		b.log.Debug().Err(err).Msg("Could not write the trace header of a Temporal request")
		return nil
	}
	return h
}
