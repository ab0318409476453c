package bridge

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// Names of the bridge's metrics that other code (dashboards, alerts, tests) refers to.
const (
	EventsMetric             = "flowbridge_bridge_events_total"
	HandleDurationMetric     = "flowbridge_bridge_handle_duration_seconds"
	EndToEndMetric           = "flowbridge_bridge_end_to_end_duration_seconds"
	ConsumerPendingMetric    = "flowbridge_bridge_consumer_pending"
	ConsumerAckPendingMetric = "flowbridge_bridge_consumer_ack_pending"
	DLQMessagesMetric        = "flowbridge_bridge_dlq_messages"
)

// Metrics are the bridge's Prometheus metrics. They are a prometheus.Collector: register
// them with the process's registry (metrics.Register).
type Metrics struct {
	events         *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	endToEnd       *prometheus.HistogramVec
	dlFailed       *prometheus.CounterVec
	dlTrimmed      *prometheus.CounterVec
	extended       prometheus.Counter
	forwards       *prometheus.CounterVec
	partitionsHeld prometheus.Gauge
	exhausted      *prometheus.CounterVec
	parked         prometheus.Counter
	woken          prometheus.Counter
	// Windows (windows.go): events held, and the calls that delivered them.
	windowEvents     *prometheus.CounterVec
	windowDeliveries *prometheus.CounterVec
	batchSize        *prometheus.HistogramVec
	limit            prometheus.Gauge
	throttled        prometheus.Counter
	inflight         prometheus.Gauge
	// Sampled from the server (SampleStreams).
	pending    *prometheus.GaugeVec
	ackPending *prometheus.GaugeVec
	dlqDepth   prometheus.Gauge

	// Children of events, latency and endToEnd by label values, so the hot path does not
	// hash its labels into the vectors on every event. Bounded like the labels themselves:
	// types are metricType's (schema types and "other"), outcomes and actions are constants.
	mu       sync.RWMutex
	counts   map[labels]prometheus.Counter
	observes map[labels]prometheus.Observer
	ages     map[labels]prometheus.Observer
}

var _ prometheus.Collector = (*Metrics)(nil)

// labels are a child's label values: type and outcome, or type and action, or type alone.
type labels struct{ typ, second string }

// NewMetrics returns the bridge's metrics, registered with reg (metrics.Register: a nil reg
// registers nothing). It returns an error when reg refuses them, such as a name it
// already has.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	if err := metrics.Register(reg, m); err != nil {
		return nil, err
	}
	return m, nil
}

// newMetrics returns the bridge's metrics, registered nowhere.
func newMetrics() *Metrics {
	return &Metrics{
		counts:   map[labels]prometheus.Counter{},
		observes: map[labels]prometheus.Observer{},
		ages:     map[labels]prometheus.Observer{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: EventsMetric,
			Help: "Events the bridge settled, by event type and outcome (routed, duplicate, ignored, waiting, held, dead_lettered, retried).",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    HandleDurationMetric,
			Help:    "Time from starting an event's handling to settling it, by event type and action, in seconds.",
			Buckets: metrics.LatencyBuckets,
		}, []string{"type", "action"}),
		endToEnd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: EndToEndMetric,
			Help: "Time from an event's time attribute (else from when EVENTS stored it) to Temporal's acceptance of it " +
				"(outcome routed, retries and waiting in EVENTS_WAITING included), by event type, in seconds.",
			Buckets: metrics.EndToEndBuckets,
		}, []string{"type"}),
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
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_partition_forwards_total",
			Help: "Partitioned mode (EVENTS_PARTITIONS): events copied from EVENTS to their partition (result ok), or not copied this time and retried (result failed).",
		}, []string{"result"}),
		partitionsHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowbridge_bridge_partitions_held",
			Help: "Partitioned mode on a server with priority groups: the partitions this bridge holds (is pinned to), looked at every 5s. Summed over the bridges it is EVENTS_PARTITIONS.",
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
		windowEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_window_events_total",
			Help: "Events held in a route's window (outcome held), by window (debounce, batch) and route. For debounce, " +
				"this minus flowbridge_bridge_window_deliveries_total is the events folded into a later one.",
		}, []string{"window", "route"}),
		windowDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_bridge_window_deliveries_total",
			Help: "Temporal calls that closed a window — a burst's last event, a batch's list — by window (debounce, batch) and route.",
		}, []string{"window", "route"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flowbridge_bridge_batch_events",
			Help:    "Events in each batch delivered, by route.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}, []string{"route"}),
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
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ConsumerPendingMetric,
			Help: "Messages on the stream not yet delivered to the durable consumer — its lag — by stream and consumer " +
				"(EVENTS/bridge: events to route; EVENTS_WAITING/bridge-waiting: parked signals), sampled from consumer info. " +
				"Every replica reports the same value: aggregate with max.",
		}, []string{"stream", "consumer"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ConsumerAckPendingMetric,
			Help: "Messages delivered to the durable consumer and not acknowledged yet (being routed, or waiting for a retry), " +
				"by stream and consumer, sampled from consumer info. Every replica reports the same value: aggregate with max.",
		}, []string{"stream", "consumer"}),
		dlqDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: DLQMessagesMetric,
			Help: "Dead letters stored on EVENTS_DLQ, sampled from stream info. Every replica reports the same value: aggregate with max.",
		}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.events, m.latency, m.endToEnd, m.dlFailed, m.dlTrimmed, m.extended, m.forwards, m.partitionsHeld, m.exhausted, m.parked, m.woken,
		m.windowEvents, m.windowDeliveries, m.batchSize,
		m.limit, m.inflight, m.throttled, m.pending, m.ackPending, m.dlqDepth,
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) count(typ, outcome string) {
	child(m, m.counts, m.events, labels{typ, outcome}).Inc()
}

func (m *Metrics) ackExtended() { m.extended.Inc() }

func (m *Metrics) forwarded(ok bool) {
	if ok {
		m.forwards.WithLabelValues("ok").Inc()
	} else {
		m.forwards.WithLabelValues("failed").Inc()
	}
}

func (m *Metrics) windowHeld(kind routing.WindowKind, route string) {
	m.windowEvents.WithLabelValues(string(kind), route).Inc()
}

// windowDelivered counts a call that closed a window, of n events.
func (m *Metrics) windowDelivered(kind routing.WindowKind, route string, n int) {
	m.windowDeliveries.WithLabelValues(string(kind), route).Inc()
	if kind == routing.Batch {
		m.batchSize.WithLabelValues(route).Observe(float64(n))
	}
}

func (m *Metrics) retryExhausted(typ, route string) { m.exhausted.WithLabelValues(typ, route).Inc() }

func (m *Metrics) deadLetterFailed(typ string) { m.dlFailed.WithLabelValues(typ).Inc() }

func (m *Metrics) deadLetterTruncated(typ string) { m.dlTrimmed.WithLabelValues(typ).Inc() }

func (m *Metrics) observe(typ string, action routing.Action, begin time.Time) {
	child(m, m.observes, m.latency, labels{typ, string(action)}).Observe(time.Since(begin).Seconds())
}

// observeEndToEnd records a routed delivery's end-to-end latency: from the event's time
// attribute, or when the stream stored it if it has none, to when Temporal took it
// (out.SettledAt). A time in the future (a publisher's clock ahead) counts as 0.
func (b *Bridge) observeEndToEnd(out Outcome) {
	if out.Outcome != OutcomeRouted {
		return
	}
	from := out.EventTime
	if from.IsZero() {
		from = out.ReceivedAt
	}
	m := b.metrics
	child(m, m.ages, typeOnly{m.endToEnd}, labels{typ: b.metricType(out.EventType)}).
		Observe(max(out.SettledAt.Sub(from), 0).Seconds())
}

// typeOnly is a vector labelled by type alone, for child.
type typeOnly struct{ vec *prometheus.HistogramVec }

func (t typeOnly) WithLabelValues(vs ...string) prometheus.Observer {
	return t.vec.WithLabelValues(vs[0])
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
