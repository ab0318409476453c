package bridge

import (
	"sync"
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
	parked    prometheus.Counter
	woken     prometheus.Counter
	limit     prometheus.Gauge
	throttled prometheus.Counter
	inflight  prometheus.Gauge

	// Children of events and latency by label values, so the hot path does not hash its
	// labels into the vectors on every event. Bounded like the labels themselves: types
	// are metricType's (schema types and "other"), outcomes and actions are constants.
	mu       sync.RWMutex
	counts   map[labels]prometheus.Counter
	observes map[labels]prometheus.Observer
}

// labels are a child's label values: type and outcome, or type and action.
type labels struct{ typ, second string }

// NewMetrics registers the bridge's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		counts:   map[labels]prometheus.Counter{},
		observes: map[labels]prometheus.Observer{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_events_total",
			Help: "Events the bridge settled, by event type and outcome (routed, duplicate, ignored, waiting, dead_lettered, retried).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowbridge_bridge_handle_seconds",
			Help:    "Time from starting an event's handling to settling it, by event type and action.",
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
			Help: "InProgress sent for events held a fifth of AckWait or longer (queued behind their workflow id or waiting for Temporal), so the stream does not redeliver them meanwhile.",
		}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_retries_exhausted_total",
			Help: "Events dead-lettered because a transient failure outlasted their route's max_retry_age or max_attempts (else BRIDGE_MAX_RETRY_AGE, BRIDGE_MAX_ATTEMPTS), by event type and route.",
		}, []string{"type", "route"}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowbridge_bridge_signals_parked_total",
			Help: "Signals whose workflow did not exist yet, parked in EVENTS_WAITING (outcome waiting) until it is started.",
		}),
		woken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowbridge_bridge_signals_woken_total",
			Help: "Parked signals delivered by the bridge that started their workflow, right after the start.",
		}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowbridge_bridge_concurrency_limit",
			Help: "Temporal calls the bridge allows in flight now: its adaptive limit (at most BRIDGE_LANES).",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flowbridge_bridge_temporal_throttled_total",
			Help: "Temporal calls answered ResourceExhausted (throttled): each lowers the concurrency limit and pauses new calls; the call is tried again in place.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowbridge_bridge_temporal_calls_in_flight",
			Help: "Temporal calls in flight now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.latency, m.dlFailed, m.dlTrimmed, m.extended, m.exhausted, m.parked, m.woken, m.limit, m.inflight, m.throttled)
	}
	return m
}

func (m *Metrics) count(typ, outcome string) {
	child(m, m.counts, m.events, labels{typ, outcome}).Inc()
}

func (m *Metrics) ackExtended() { m.extended.Inc() }

func (m *Metrics) retryExhausted(typ, route string) { m.exhausted.WithLabelValues(typ, route).Inc() }

func (m *Metrics) deadLetterFailed(typ string) { m.dlFailed.WithLabelValues(typ).Inc() }

func (m *Metrics) deadLetterTruncated(typ string) { m.dlTrimmed.WithLabelValues(typ).Inc() }

func (m *Metrics) observe(typ string, action routing.Action, begin time.Time) {
	child(m, m.observes, m.latency, labels{typ, string(action)}).Observe(time.Since(begin).Seconds())
}

// child returns vec's child for l from cache, creating it the first time.
func child[T any](m *Metrics, cache map[labels]T, vec interface{ WithLabelValues(...string) T }, l labels) T {
	m.mu.RLock()
	c, ok := cache[l]
	m.mu.RUnlock()
	if ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := cache[l]; ok {
		return c
	}
	c = vec.WithLabelValues(l.typ, l.second)
	cache[l] = c
	return c
}

// metricType bounds the label's cardinality: types without a schema (anything a
// publisher made up) count as "other".
func (b *Bridge) metricType(t string) string {
	if b.schemas.Has(t) {
		return t
	}
	return "other"
}
