// Package metrics gives the worker's Temporal SDK metrics to Prometheus
// (TemporalHandler) and counts activity outcomes (ActivityOutcomes).
//
// The SDK's own route to Prometheus is go.temporal.io/sdk/contrib/tally with tally's
// Prometheus reporter. It is well kept, but it adds tally and its reporter to the module
// for what is a small adapter: the SDK asks a handler for counters, gauges and timers
// only, and client_golang, which flowbridge already uses, does the rest.
package metrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
)

// DefaultBuckets are the upper bounds, in seconds, of the histograms timers become: from
// 1ms (a workflow task) to 1h (a long activity, a workflow from start to close).
var DefaultBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
}

// ConflictsMetric counts SDK metrics that did not fit the Prometheus metric of their
// name, by metric and resolution (relabeled or dropped; see TemporalHandler).
const ConflictsMetric = "flowbridge_temporal_metric_conflicts_total"

// TemporalConfig configures NewTemporalHandler.
type TemporalConfig struct {
	// Buckets are the histogram buckets of timers, in seconds, increasing.
	// Optional: defaults to DefaultBuckets.
	Buckets []float64
}

// TemporalHandler is a client.MetricsHandler that records into Prometheus:
//
//   - Names keep the SDK's, which Temporal's documentation and dashboards use
//     (temporal_request, temporal_activity_execution_latency, ...): characters
//     Prometheus does not allow become "_", and a name without the temporal_ prefix
//     gets it.
//   - Counters get the _total suffix; gauges are gauges; timers are histograms in
//     seconds, without a _seconds suffix, as Temporal's dashboards expect.
//   - Tags are labels, sanitized the same way ("le" becomes "tag_le", since histograms
//     reserve it).
//
// Prometheus fixes a metric's label names when it is registered. The SDK gives a name
// one set of tags in practice, but nothing enforces it, so each (name, label names) is
// registered as it first appears; when the registry refuses a second label set for a
// name, its values are recorded under the name's first label set instead (missing
// labels empty, extra ones left out), and when a name was taken by a metric of another
// type or by another collector, they are dropped. Either is logged once per label set
// and counted on every use in flowbridge_temporal_metric_conflicts_total{metric,
// resolution}. Nothing the SDK or a workflow emits makes it panic.
//
// Handlers returned by WithTags share their metrics; all are safe for concurrent use.
// Several handlers built on one registry share the metrics they both register.
type TemporalHandler struct {
	fams   *families
	tags   map[string]string // as given, for WithTags to merge into
	labels []string          // sanitized label names, sorted
	values []string          // label values, in the order of labels
	sig    string            // labels joined by ",": the label set's identity
}

var _ client.MetricsHandler = (*TemporalHandler)(nil)

// NewTemporalHandler registers its conflicts counter with reg and returns a handler
// registering the SDK's metrics with reg as they are first emitted. It returns an error
// when cfg.Buckets do not increase or the conflicts counter cannot be registered.
func NewTemporalHandler(reg prometheus.Registerer, log zerolog.Logger, cfg TemporalConfig) (*TemporalHandler, error) {
	if reg == nil {
		return nil, errors.New("Temporal metrics: nil prometheus.Registerer")
	}
	if cfg.Buckets == nil {
		cfg.Buckets = DefaultBuckets
	}
	if len(cfg.Buckets) == 0 {
		return nil, errors.New("Temporal metrics: no histogram buckets")
	}
	for i := 1; i < len(cfg.Buckets); i++ {
		if cfg.Buckets[i] <= cfg.Buckets[i-1] {
			return nil, fmt.Errorf("Temporal metrics: histogram buckets must increase, got %v", cfg.Buckets)
		}
	}
	conflicts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ConflictsMetric,
		Help: "Temporal SDK metric updates that did not fit the Prometheus metric of their name: " +
			"relabeled (recorded under the name's first label set) or dropped (the name has another type).",
	}, []string{"metric", "resolution"})
	if err := reg.Register(conflicts); err != nil {
		existing, ok := alreadyRegistered[*prometheus.CounterVec](err)
		if !ok {
			return nil, fmt.Errorf("register %s: %w", ConflictsMetric, err)
		}
		conflicts = existing
	}
	f := &families{
		reg:       reg,
		log:       log.With().Str("component", "temporal_metrics").Logger(),
		buckets:   slices.Clone(cfg.Buckets),
		conflicts: conflicts,
		bindings:  make(map[bindingKey]*binding),
		bySig:     make(map[famKey]*family),
		byName:    make(map[string]*family),
	}
	return newHandler(f, nil), nil
}

// WithTags implements client.MetricsHandler: a handler whose metrics carry h's tags and
// tags, tags winning where a key is in both.
func (h *TemporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	if len(tags) == 0 {
		return h
	}
	merged := make(map[string]string, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	maps.Copy(merged, tags)
	return newHandler(h.fams, merged)
}

// Counter implements client.MetricsHandler. Negative increments are ignored: a
// Prometheus counter only goes up.
func (h *TemporalHandler) Counter(name string) client.MetricsCounter {
	b := h.fams.bind(counterKind, name, h)
	if b.fam == nil {
		return counterFunc(func(int64) { b.conflict.Inc() })
	}
	c := b.fam.counter.WithLabelValues(b.valuesOf(h)...)
	return counterFunc(func(d int64) {
		if b.conflict != nil {
			b.conflict.Inc()
		}
		if d > 0 {
			c.Add(float64(d))
		}
	})
}

// Gauge implements client.MetricsHandler.
func (h *TemporalHandler) Gauge(name string) client.MetricsGauge {
	b := h.fams.bind(gaugeKind, name, h)
	if b.fam == nil {
		return gaugeFunc(func(float64) { b.conflict.Inc() })
	}
	g := b.fam.gauge.WithLabelValues(b.valuesOf(h)...)
	return gaugeFunc(func(v float64) {
		if b.conflict != nil {
			b.conflict.Inc()
		}
		g.Set(v)
	})
}

// Timer implements client.MetricsHandler: a histogram in seconds.
func (h *TemporalHandler) Timer(name string) client.MetricsTimer {
	b := h.fams.bind(timerKind, name, h)
	if b.fam == nil {
		return timerFunc(func(time.Duration) { b.conflict.Inc() })
	}
	o := b.fam.timer.WithLabelValues(b.valuesOf(h)...)
	return timerFunc(func(d time.Duration) {
		if b.conflict != nil {
			b.conflict.Inc()
		}
		o.Observe(d.Seconds())
	})
}

func newHandler(f *families, tags map[string]string) *TemporalHandler {
	type label struct{ name, value string }
	ls := make([]label, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	// Two tags that sanitize to one label name: the first in key order wins.
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		name := labelName(k)
		if seen[name] {
			continue
		}
		seen[name] = true
		// Gather rejects a label value that is not UTF-8, and fails the whole scrape.
		ls = append(ls, label{name, strings.ToValidUTF8(tags[k], "\uFFFD")})
	}
	slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
	h := &TemporalHandler{fams: f, tags: tags, labels: make([]string, len(ls)), values: make([]string, len(ls))}
	for i, l := range ls {
		h.labels[i], h.values[i] = l.name, l.value
	}
	h.sig = strings.Join(h.labels, ",")
	return h
}

type kind uint8

const (
	counterKind kind = iota
	gaugeKind
	timerKind
)

func (k kind) String() string {
	return [...]string{"counter", "gauge", "histogram"}[k]
}

// family is one registered Prometheus vector.
type family struct {
	kind    kind
	name    string
	labels  []string
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	timer   *prometheus.HistogramVec
}

type famKey struct{ name, sig string }

type bindingKey struct {
	kind      kind
	name, sig string // the SDK's metric name; the handler's label set
}

// binding is where an SDK metric with one label set is recorded.
type binding struct {
	fam *family // nil: dropped
	// project, when set, gives for each of fam's labels the index of the handler's value
	// to use, or -1 for none: the label set differed from fam's.
	project  []int
	conflict prometheus.Counter // counted on every use; nil when the metric fits
}

func (b *binding) valuesOf(h *TemporalHandler) []string {
	if b.project == nil {
		return h.values
	}
	vs := make([]string, len(b.project))
	for i, j := range b.project {
		if j >= 0 {
			vs[i] = h.values[j]
		}
	}
	return vs
}

// families holds what every handler of one NewTemporalHandler shares.
type families struct {
	reg       prometheus.Registerer
	log       zerolog.Logger
	buckets   []float64
	conflicts *prometheus.CounterVec

	mu       sync.RWMutex
	bindings map[bindingKey]*binding
	bySig    map[famKey]*family
	byName   map[string]*family // the first family registered under a name: the fallback
}

func (f *families) bind(k kind, name string, h *TemporalHandler) *binding {
	key := bindingKey{k, name, h.sig}
	f.mu.RLock()
	b := f.bindings[key]
	f.mu.RUnlock()
	if b != nil {
		return b
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.bindings[key]; b != nil {
		return b
	}
	b = f.newBinding(k, name, h)
	f.bindings[key] = b
	return b
}

// newBinding registers the vector for (name, h's labels), or finds where else to record.
// f.mu is held.
func (f *families) newBinding(k kind, sdkName string, h *TemporalHandler) *binding {
	name := metricName(k, sdkName)
	fk := famKey{name, h.sig}
	if fam := f.bySig[fk]; fam != nil && fam.kind == k {
		return &binding{fam: fam}
	}
	fam, err := f.register(k, name, h.labels)
	if err == nil {
		f.bySig[fk] = fam
		if f.byName[name] == nil {
			f.byName[name] = fam
		}
		return &binding{fam: fam}
	}
	log := f.log.Warn().Err(err).Str("metric", name).Str("sdk_metric", sdkName).
		Stringer("type", k).Strs("labels", h.labels)
	if prev := f.byName[name]; prev != nil && prev.kind == k {
		log.Strs("recorded_with", prev.labels).
			Msg("Temporal metric emitted with another label set than its first; recording it with the first")
		return &binding{fam: prev, project: project(prev.labels, h.labels), conflict: f.conflicts.WithLabelValues(name, "relabeled")}
	}
	log.Msg("Temporal metric cannot be registered; dropping it")
	return &binding{conflict: f.conflicts.WithLabelValues(name, "dropped")}
}

func (f *families) register(k kind, name string, labels []string) (*family, error) {
	fam := &family{kind: k, name: name, labels: labels}
	help := "Temporal SDK metric " + name + " (https://docs.temporal.io/references/sdk-metrics)."
	var c prometheus.Collector
	switch k {
	case counterKind:
		fam.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		c = fam.counter
	case gaugeKind:
		fam.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		c = fam.gauge
	case timerKind:
		fam.timer = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help + " In seconds.", Buckets: f.buckets}, labels)
		c = fam.timer
	}
	err := f.reg.Register(c)
	if err == nil {
		return fam, nil
	}
	// Another handler on this registry (a second client) registered the same metric.
	var ok bool
	switch k {
	case counterKind:
		fam.counter, ok = alreadyRegistered[*prometheus.CounterVec](err)
	case gaugeKind:
		fam.gauge, ok = alreadyRegistered[*prometheus.GaugeVec](err)
	case timerKind:
		fam.timer, ok = alreadyRegistered[*prometheus.HistogramVec](err)
	}
	if ok {
		return fam, nil
	}
	return nil, err
}

// alreadyRegistered returns the collector err says is registered, if it is a T.
func alreadyRegistered[T prometheus.Collector](err error) (T, bool) {
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		c, ok := are.ExistingCollector.(T)
		return c, ok
	}
	var zero T
	return zero, false
}

// project maps want's labels to indexes into have (both sorted), -1 where have has none.
func project(want, have []string) []int {
	idx := make([]int, len(want))
	for i, l := range want {
		j, found := slices.BinarySearch(have, l)
		if !found {
			j = -1
		}
		idx[i] = j
	}
	return idx
}

// metricName is the Prometheus name of the SDK's metric name of kind k.
func metricName(k kind, name string) string {
	name = sanitize(name, true)
	if !strings.HasPrefix(name, "temporal_") {
		name = "temporal_" + name
	}
	if k == counterKind && !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	return name
}

// labelName is the Prometheus label name of a tag key.
func labelName(key string) string {
	l := sanitize(key, false)
	switch {
	case l == "", l == "le", l == "quantile", strings.HasPrefix(l, "__"):
		// Empty, reserved by histograms and summaries, or by Prometheus itself.
		return "tag_" + l
	case l[0] >= '0' && l[0] <= '9':
		return "_" + l
	}
	return l
}

// sanitize replaces what Prometheus does not allow in a name ([a-zA-Z_:][a-zA-Z0-9_:]*,
// no ":" in a label name) with "_".
func sanitize(s string, colon bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		case r == ':' && colon:
			return r
		}
		return '_'
	}, s)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
