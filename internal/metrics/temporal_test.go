package metrics_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func newHandler(t *testing.T) (*metrics.TemporalHandler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := metrics.NewTemporalHandler(reg, testenv.Logger(t), metrics.TemporalConfig{})
	require.NoError(t, err)
	return h, reg
}

// sample is one gathered series. No client_model import: it would make that module a
// direct dependency of flowbridge.
type sample struct {
	name   string
	labels map[string]string
	typ    string  // COUNTER, GAUGE or HISTOGRAM
	value  float64 // counter or gauge value; a histogram's sum
	count  uint64  // a histogram's count
	bucket map[float64]uint64
}

// samples returns every series of reg, and fails the test when Gather does (as a scrape
// would).
func samples(t *testing.T, reg prometheus.Gatherer) []sample {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err, "gather")
	var out []sample
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{name: mf.GetName(), labels: map[string]string{}, typ: mf.GetType().String()}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.value, s.count = m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
				s.bucket = map[float64]uint64{}
				for _, b := range m.GetHistogram().GetBucket() {
					s.bucket[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// gather returns every series of reg by `name{label="value",...}`, labels sorted.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]sample {
	t.Helper()
	got := map[string]sample{}
	for _, s := range samples(t, reg) {
		ls := make([]string, 0, len(s.labels))
		for k, v := range s.labels {
			ls = append(ls, fmt.Sprintf("%s=%q", k, v))
		}
		slices.Sort(ls)
		got[s.name+"{"+strings.Join(ls, ",")+"}"] = s
	}
	return got
}

func TestTemporalHandlerRecords(t *testing.T) {
	h, reg := newHandler(t)
	// As the SDK does: root tags from the client, more tags per worker and per task.
	root := h.WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go", "task_queue": "none"})
	rpc := root.WithTags(map[string]string{"operation": "StartWorkflowExecution"})
	rpc.Counter("temporal_request").Inc(2)
	rpc.Counter("temporal_request").Inc(1)
	rpc.Counter("temporal_request").Inc(-5) // ignored: counters only go up
	root.WithTags(map[string]string{"poller_type": "activity_task", "task_queue": "q1"}).Gauge("temporal_num_pollers").Update(3)
	lat := root.WithTags(map[string]string{"activity_type": "Greet", "task_queue": "q1"}).Timer("temporal_activity_execution_latency")
	lat.Record(1500 * time.Millisecond)
	lat.Record(20 * time.Millisecond)
	// Names and tags outside Prometheus' alphabet, as a workflow's own metrics may have.
	h.WithTags(map[string]string{"step.name": "build", "le": "x", "9lives": "y"}).Counter("deploy.steps-run").Inc(1)
	h.Counter("temporal_custom_total").Inc(1)

	got := gather(t, reg)
	tests := []struct {
		name   string
		series string
		typ    string
		value  float64
		count  uint64
	}{
		{
			name:   "counter gets _total, tags become labels",
			series: `temporal_request_total{client_name="temporal_go",namespace="default",operation="StartWorkflowExecution",task_queue="none"}`,
			typ:    "COUNTER", value: 3,
		},
		{
			name:   "gauge keeps its name; a later tag wins",
			series: `temporal_num_pollers{client_name="temporal_go",namespace="default",poller_type="activity_task",task_queue="q1"}`,
			typ:    "GAUGE", value: 3,
		},
		{
			name:   "timer is a histogram in seconds",
			series: `temporal_activity_execution_latency{activity_type="Greet",client_name="temporal_go",namespace="default",task_queue="q1"}`,
			typ:    "HISTOGRAM", value: 1.52, count: 2,
		},
		{
			name:   "names and labels sanitized, prefixed, reserved label renamed",
			series: `temporal_deploy_steps_run_total{_9lives="y",step_name="build",tag_le="x"}`,
			typ:    "COUNTER", value: 1,
		},
		{name: "no second _total", series: `temporal_custom_total{}`, typ: "COUNTER", value: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := got[tt.series]
			require.True(t, ok, "got series %v, want %s", slices.Sorted(maps.Keys(got)), tt.series)
			require.Equal(t, tt.typ, s.typ, "type: got %v, want %v", s.typ, tt.typ)
			require.InDelta(t, tt.value, s.value, 1e-9, "value: got %v, want %v", s.value, tt.value)
			require.Equal(t, tt.count, s.count, "count: got %v, want %v", s.count, tt.count)
		})
	}
	hist := got[tests[2].series]
	require.Equal(t, uint64(1), hist.bucket[0.025], "bucket le=0.025: got %d, want 1 (the 20ms one)", hist.bucket[0.025])
	require.Equal(t, uint64(2), hist.bucket[2.5], "bucket le=2.5: got %d, want 2", hist.bucket[2.5])
	for s := range got {
		require.False(t, strings.HasPrefix(s, metrics.ConflictsMetric), "got conflict %s, want none", s)
	}
}

func TestTemporalHandlerDifferingTagSets(t *testing.T) {
	h, reg := newHandler(t)
	a := h.WithTags(map[string]string{"namespace": "ns", "operation": "Poll"})
	a.Counter("temporal_request").Inc(1)
	// The same name with an extra tag, then with a missing one: relabeled onto the first
	// label set (extra dropped, missing empty), not a panic.
	a.WithTags(map[string]string{"status_code": "UNAVAILABLE"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"namespace": "ns"}).Counter("temporal_request").Inc(4)
	// The same name as another type: dropped. Timers too, with any label set.
	a.Gauge("temporal_request_total").Update(7)
	a.Timer("temporal_request_total").Record(time.Second)
	// A second handler on the same registry shares the metrics.
	h2, err := metrics.NewTemporalHandler(reg, testenv.Logger(t), metrics.TemporalConfig{})
	require.NoError(t, err)
	h2.WithTags(map[string]string{"namespace": "ns", "operation": "Poll"}).Counter("temporal_request").Inc(8)

	got := gather(t, reg)
	want := map[string]float64{
		`temporal_request_total{namespace="ns",operation="Poll"}`:                            1 + 2 + 8,
		`temporal_request_total{namespace="ns",operation=""}`:                                4,
		metrics.ConflictsMetric + `{metric="temporal_request_total",resolution="relabeled"}`: 2,
		metrics.ConflictsMetric + `{metric="temporal_request_total",resolution="dropped"}`:   2,
		`temporal_request_total{namespace="ns",operation="Poll",status_code="UNAVAILABLE"}`:  0, // must not exist
	}
	for series, value := range want {
		s, ok := got[series]
		if value == 0 {
			require.False(t, ok, "got series %s, want none", series)
			continue
		}
		require.True(t, ok, "got series %v, want %s", slices.Sorted(maps.Keys(got)), series)
		require.Equal(t, value, s.value, "%s: got %v, want %v", series, s.value, value)
	}
}

func TestTemporalHandlerConcurrent(t *testing.T) {
	h, reg := newHandler(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			tags := map[string]string{"namespace": "ns"}
			if i%2 == 1 {
				tags["task_queue"] = fmt.Sprint("q", i%4) // a second label set
			}
			hh := h.WithTags(tags)
			for range 200 {
				hh.Counter("temporal_poller_start").Inc(1)
				hh.Gauge("temporal_worker_task_slots_available").Update(float64(i))
				hh.Timer("temporal_workflow_task_execution_latency").Record(time.Millisecond)
			}
		})
	}
	wg.Wait()
	var total float64
	for s, v := range gather(t, reg) {
		if strings.HasPrefix(s, "temporal_poller_start_total{") {
			total += v.value
		}
	}
	require.Equal(t, float64(16*200), total, "temporal_poller_start_total summed: got %v, want %v", total, 16*200)
}

func TestNewTemporalHandlerValidates(t *testing.T) {
	tests := []struct {
		name    string
		reg     prometheus.Registerer
		cfg     metrics.TemporalConfig
		wantErr string
	}{
		{name: "defaults", reg: prometheus.NewRegistry()},
		{name: "own buckets", reg: prometheus.NewRegistry(), cfg: metrics.TemporalConfig{Buckets: []float64{0.1, 1, 10}}},
		{name: "no registry", wantErr: "nil prometheus.Registerer"},
		{name: "buckets not increasing", reg: prometheus.NewRegistry(), cfg: metrics.TemporalConfig{Buckets: []float64{1, 0.5}}, wantErr: "must increase"},
		{name: "empty buckets", reg: prometheus.NewRegistry(), cfg: metrics.TemporalConfig{Buckets: []float64{}}, wantErr: "no histogram buckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := metrics.NewTemporalHandler(tt.reg, testenv.Logger(t), tt.cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr, "got %v, want an error containing %q", err, tt.wantErr)
		})
	}
}

func TestNewTemporalHandlerNameTaken(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.ConflictsMetric, Help: "someone else's"}))
	_, err := metrics.NewTemporalHandler(reg, testenv.Logger(t), metrics.TemporalConfig{})
	require.ErrorContains(t, err, metrics.ConflictsMetric, "got %v, want an error naming the metric", err)
}
