package bridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
	"github.com/flowbridge/flowbridge/schemas"
)

// One trace covers a payment: the Stripe webhook (its W3C traceparent header the parent),
// the publish onto the stream, the bridge's delivery, the PaymentProcessing workflow the
// bridge started (its header read by the SDK's interceptor), the workflow's activities,
// the payment.processed event the last one published, and the bridge's delivery of that.
func TestTraceFromStripeWebhookToResultEvent(t *testing.T) {
	const secret = "whsec_trace"
	spans := newSpans(t)
	h := newHarness(t)
	h.tracing = spans.tp
	h.startWorker(workflows.OnboardingConfig{})
	h.startBridge(h.temporal, bridge.Config{TracerProvider: spans.tp})

	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	log := testenv.Logger(t)
	srv := ingress.New(ingress.Config{}, log)
	ing, err := ingress.NewIngest(telemetry.TracePublisher(h.pub, spans.tp), sch, prometheus.NewRegistry(), log, ingress.IngestConfig{StripeSecrets: []string{secret}})
	require.NoError(t, err)
	ing.Mount(telemetry.TraceHTTP(srv, spans.tp))
	web := httptest.NewServer(srv.Handler())
	defer web.Close()

	ctx := context.Background()
	customer, intent, stripeID := testenv.ID("cus_"), testenv.ID("pi_"), testenv.ID("evt_")
	email := testenv.ID("payer-") + "@example.com"
	tenant, err := h.store.EnsureTenant(ctx, testenv.ID("u-"), email)
	require.NoError(t, err)
	_, err = h.store.SetStripeCustomer(ctx, tenant.ID, customer)
	require.NoError(t, err)
	payload, err := json.Marshal(map[string]any{
		"id": stripeID, "object": "event", "type": "payment_intent.succeeded", "created": time.Now().Unix(),
		"api_version": "2025-01-27.acacia", "data": map[string]any{"object": map[string]any{
			"id": intent, "object": "payment_intent", "customer": customer, "amount_received": 4900, "currency": "eur", "receipt_email": email}},
	})
	require.NoError(t, err)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
	req, err := http.NewRequest(http.MethodPost, web.URL+"/webhooks/stripe", bytes.NewReader(payload))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", signed.Header)
	caller := remoteParent(t)
	req.Header.Set("traceparent", traceparent(caller))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	wfID := "payment-" + intent
	processed := spans.wait(t, "process events.payment.processed", func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanContext().TraceID() == caller.TraceID()
	})

	server := spans.one(t, "POST /webhooks/stripe", caller.TraceID())
	require.Equal(t, trace.SpanKindServer, server.SpanKind())
	requireChildOf(t, server, caller)
	published := spans.one(t, "publish events.stripe.paid", caller.TraceID())
	require.Equal(t, trace.SpanKindProducer, published.SpanKind())
	requireChildOf(t, published, server.SpanContext())
	delivered := spans.one(t, "process events.stripe.paid", caller.TraceID())
	require.Equal(t, trace.SpanKindConsumer, delivered.SpanKind())
	requireChildOf(t, delivered, published.SpanContext())
	for key, want := range map[string]string{
		"messaging.system": "nats", "messaging.operation.type": "process", "messaging.destination.name": "events.stripe.paid",
		"messaging.message.id": stripeID, "messaging.consumer.group.name": events.BridgeConsumer,
		"cloudevents.event_id": stripeID, "cloudevents.event_type": "stripe.paid",
		"flowbridge.route": "stripe-paid", "flowbridge.action": "start", "flowbridge.workflow_id": wfID,
		"flowbridge.outcome": bridge.OutcomeRouted, "flowbridge.result": "done",
	} {
		require.Equal(t, want, attr(delivered, key), "bridge span attribute %s: got %q, want %q", key, attr(delivered, key), want)
	}

	// The workflow's span ends when it completes, which may be after the bridge saw its
	// last result event.
	run := spans.wait(t, "RunWorkflow:"+contract.PaymentProcessingWorkflow, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanContext().TraceID() == caller.TraceID()
	})
	requireChildOf(t, run, delivered.SpanContext())
	for _, activity := range []string{"RecordPayment", "SendInvoice", "NotifyUser"} {
		act := spans.one(t, "RunActivity:"+activity, caller.TraceID())
		require.True(t, spans.descends(act, run), "RunActivity:%s does not descend from the workflow's span", activity)
	}
	resultPublished := spans.one(t, "publish events.payment.processed", caller.TraceID())
	requireChildOf(t, resultPublished, spans.one(t, "RunActivity:NotifyUser", caller.TraceID()).SpanContext())
	requireChildOf(t, processed, resultPublished.SpanContext())
	require.Equal(t, bridge.OutcomeIgnored, attr(processed, "flowbridge.outcome"), "no route takes payment.processed")

	// The event on the stream carries the trace too: any consumer can join it.
	stored, ok := h.lastEvent("stripe.paid")
	require.True(t, ok)
	require.Equal(t, traceparent(published.SpanContext()), stored.Extensions()[telemetry.ExtTraceParent])
}

// A traceparent a client published on NATS, as the event's extension (either content
// mode) or as a W3C header of the message, is the parent of the bridge's span; without
// one the bridge's span starts a trace.
func TestTraceparentPublishedOnNATSParentsBridgeSpan(t *testing.T) {
	spans := newSpans(t)
	h := newHarness(t)
	h.startBridge(h.temporal, bridge.Config{TracerProvider: spans.tp})

	tests := []struct {
		name    string
		publish func(ev events.Event, parent trace.SpanContext)
		parent  bool
	}{
		{name: "extension, binary mode", parent: true, publish: func(ev events.Event, parent trace.SpanContext) {
			ev.SetExtension(telemetry.ExtTraceParent, traceparent(parent))
			ev.SetExtension(telemetry.ExtTraceState, "vendor=abc")
			h.publishBinary(ev)
		}},
		{name: "extension, structured mode", parent: true, publish: func(ev events.Event, parent trace.SpanContext) {
			ev.SetExtension(telemetry.ExtTraceParent, traceparent(parent))
			h.publishStructured(ev)
		}},
		{name: "W3C header of the message", parent: true, publish: func(ev events.Event, parent trace.SpanContext) {
			m, err := events.Encode(ev)
			require.NoError(t, err)
			m.Header.Set("traceparent", traceparent(parent))
			h.publishRaw(m)
		}},
		{name: "none", publish: func(ev events.Event, _ trace.SpanContext) {
			h.publishBinary(ev)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := testenv.ID("evt-")
			ev := newEvent(t, id, "payment.processed", map[string]any{"payment_id": id, "tenant_id": "t-1", "notification_id": "n-1"})
			parent := remoteParent(t)
			tt.publish(ev, parent)
			span := spans.wait(t, "process events.payment.processed", func(s sdktrace.ReadOnlySpan) bool { return attr(s, "cloudevents.event_id") == id })
			if !tt.parent {
				require.False(t, span.Parent().IsValid(), "got parent %v, want a new trace", span.Parent())
				require.True(t, span.SpanContext().IsValid())
				return
			}
			requireChildOf(t, span, parent)
			require.True(t, span.Parent().IsRemote(), "the parent is the client's, not one of the bridge's")
			if tt.name == "extension, binary mode" {
				require.Equal(t, "vendor=abc", span.SpanContext().TraceState().String(), "tracestate travels with traceparent")
			}
		})
	}
}

// The header the bridge writes is the one the SDK's tracing interceptor reads: a worker
// with the interceptor makes its workflow's span a child of the bridge's span of the event
// that started it (a start), and its signal handler's a child of the span of the event
// that signalled it (a signal).
func TestWorkflowSpanIsChildOfBridgeSpan(t *testing.T) {
	spans := newSpans(t)
	h := newHarness(t)
	h.tracing = spans.tp
	h.startWorker(workflows.OnboardingConfig{})
	h.startBridge(h.temporal, bridge.Config{TracerProvider: spans.tp})

	user := testenv.ID("u-")
	signup := newEvent(t, "evt-"+user, "user.signedup", map[string]any{"user_id": user, "email": user + "@example.com", "name": "Ada"})
	h.publishBinary(signup)
	wfID := "onboarding-" + user
	h.waitExists(wfID)
	verified := newEvent(t, "evt-verified-"+user, "email.verified", map[string]any{"user_id": user, "email": user + "@example.com"})
	h.publishBinary(verified)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, h.temporal.GetWorkflow(ctx, wfID, "").Get(ctx, nil))

	started := spans.wait(t, "process events.user.signedup", func(s sdktrace.ReadOnlySpan) bool { return attr(s, "cloudevents.event_id") == signup.ID() })
	require.Equal(t, wfID, attr(started, "flowbridge.workflow_id"))
	run := spans.wait(t, "RunWorkflow:"+contract.UserOnboardingWorkflow, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanContext().TraceID() == started.SpanContext().TraceID()
	})
	requireChildOf(t, run, started.SpanContext())

	signalled := spans.wait(t, "process events.email.verified", func(s sdktrace.ReadOnlySpan) bool { return attr(s, "cloudevents.event_id") == verified.ID() })
	require.Equal(t, "signal", attr(signalled, "flowbridge.action"))
	handled := spans.wait(t, "HandleSignal:"+contract.SignalEmailVerified, func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanContext().TraceID() == signalled.SpanContext().TraceID()
	})
	requireChildOf(t, handled, signalled.SpanContext())
}

// spans records every span of a tracer provider of a test's own.
type spans struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
}

func newSpans(t *testing.T) *spans {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &spans{tp: tp, rec: rec}
}

// wait returns the first ended span named name that match accepts, waiting up to 30s.
func (s *spans) wait(t *testing.T, name string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, sp := range s.rec.Ended() {
			if sp.Name() == name && match(sp) {
				found = sp
				return true
			}
		}
		return false
	}, "no span %s; ended: %s", name, s.names())
	return found
}

// one returns the one ended span named name in trace id.
func (s *spans) one(t *testing.T, name string, id trace.TraceID) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, sp := range s.rec.Ended() {
		if sp.Name() == name && sp.SpanContext().TraceID() == id {
			found = append(found, sp)
		}
	}
	require.Len(t, found, 1, "spans %s in trace %s: got %d, want 1; ended: %s", name, id, len(found), s.names())
	return found[0]
}

// descends reports whether ancestor is sp's parent, or its parent's, and so on.
func (s *spans) descends(sp, ancestor sdktrace.ReadOnlySpan) bool {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, e := range s.rec.Ended() {
		byID[e.SpanContext().SpanID()] = e
	}
	for p := sp.Parent(); p.IsValid(); {
		if p.SpanID() == ancestor.SpanContext().SpanID() {
			return true
		}
		next, ok := byID[p.SpanID()]
		if !ok {
			return false
		}
		p = next.Parent()
	}
	return false
}

func (s *spans) names() string {
	var names []string
	for _, sp := range s.rec.Ended() {
		names = append(names, sp.Name())
	}
	return strings.Join(names, ", ")
}

func requireChildOf(t *testing.T, sp sdktrace.ReadOnlySpan, parent trace.SpanContext) {
	t.Helper()
	require.Equal(t, parent.TraceID(), sp.SpanContext().TraceID(), "%s: trace id", sp.Name())
	require.Equal(t, parent.SpanID(), sp.Parent().SpanID(), "%s: got parent span %s, want %s", sp.Name(), sp.Parent().SpanID(), parent.SpanID())
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// remoteParent is the span context of a caller outside flowbridge, sampled.
func remoteParent(t *testing.T) trace.SpanContext {
	t.Helper()
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:]) // never fails
	_, _ = rand.Read(sid[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	require.True(t, sc.IsValid())
	return sc
}

// traceparent is sc as a W3C traceparent.
func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}
