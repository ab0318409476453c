package bridge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbridge/flowbridge/internal/routing"
)

// Metrics are the bridge's Prometheus metrics.
type Metrics struct {
	events    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	dlFailed  *prometheus.CounterVec
	dlTrimmed *prometheus.CounterVec
	extended  prometheus.Counter
	exhausted *prometheus.CounterVec
}

// NewMetrics registers the bridge's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_events_total",
			Help: "Events the bridge settled, by event type and outcome (routed, duplicate, ignored, dead_lettered, retried).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowbridge_bridge_handle_seconds",
			Help:    "Time from taking an event off its lane to settling it, by event type and action.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"type", "action"}),
		dlFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_dead_letter_failures_total",
			Help: "Attempts to store a dead letter on EVENTS_DLQ that failed, by event type: the event stays on EVENTS and is tried again. Alert on any increase.",
		}, []string{"type"}),
		dlTrimmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_dead_letters_truncated_total",
			Help: "Dead letters stored truncated (Flowbridge-Truncated) because the whole would not fit the server's max_payload or EVENTS_DLQ refused it, by event type.",
		}, []string{"type"}),
		extended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowbridge_bridge_ack_extensions_total",
			Help: "InProgress sent for events held longer than half of AckWait (queued in a lane or waiting for Temporal), so the stream does not redeliver them meanwhile.",
		}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_retries_exhausted_total",
			Help: "Events dead-lettered because a transient failure outlasted their route's max_retry_age or max_attempts (else BRIDGE_MAX_RETRY_AGE, BRIDGE_MAX_ATTEMPTS), by event type and route.",
		}, []string{"type", "route"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.latency, m.dlFailed, m.dlTrimmed, m.extended, m.exhausted)
	}
	return m
}

func (m *Metrics) count(typ, outcome string) { m.events.WithLabelValues(typ, outcome).Inc() }

func (m *Metrics) ackExtended() { m.extended.Inc() }

func (m *Metrics) retryExhausted(typ, route string) { m.exhausted.WithLabelValues(typ, route).Inc() }

func (m *Metrics) deadLetterFailed(typ string) { m.dlFailed.WithLabelValues(typ).Inc() }

func (m *Metrics) deadLetterTruncated(typ string) { m.dlTrimmed.WithLabelValues(typ).Inc() }

func (m *Metrics) observe(typ string, action routing.Action, begin time.Time) {
	m.latency.WithLabelValues(typ, string(action)).Observe(time.Since(begin).Seconds())
}

// metricType bounds the label's cardinality: types without a schema (anything a
// publisher made up) count as "other".
func (b *Bridge) metricType(t string) string {
	if b.schemas.Has(t) {
		return t
	}
	return "other"
}
