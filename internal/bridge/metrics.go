package bridge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbridge/flowbridge/internal/routing"
)

// Metrics are the bridge's Prometheus metrics.
type Metrics struct {
	events  *prometheus.CounterVec
	latency *prometheus.HistogramVec
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
	}
	if reg != nil {
		reg.MustRegister(m.events, m.latency)
	}
	return m
}

func (m *Metrics) count(typ, outcome string) { m.events.WithLabelValues(typ, outcome).Inc() }

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
