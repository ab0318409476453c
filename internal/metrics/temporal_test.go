package metrics_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/metrics"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

type sample struct {
	name   string
	labels map[string]string
	typ    string  // COUNTER, GAUGE or HISTOGRAM
	value  float64 // counter or gauge value; a histogram's sum
	count  uint64  // a histogram's count
}

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
			}
			out = append(out, s)
		}
	}
	return out
}

// gather is samples by name and labels, as the exposition format writes them.
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

// The SDK's counters, gauges and timers reach the registry under the names Temporal's
// Grafana SDK dashboard queries: _total on counters, timers as histograms in seconds.
// The SDK itself names metrics without the suffixes; the SDK's adapter adds them.
func TestTemporalNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	tm, err := metrics.NewTemporal(reg, testenv.Logger(t))
	require.NoError(t, err)
	h := tm.Handler().WithTags(map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"})
	h.Counter("temporal_request").Inc(2)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Timer("temporal_request_latency").Record(30 * time.Millisecond)
	// A metric the SDK emits with a second tag set is dropped, not a panic.
	tm.Handler().WithTags(map[string]string{"other": "x"}).Counter("temporal_request").Inc(1)
	require.NoError(t, tm.Close()) // reports counters and gauges now

	want := []struct {
		name, typ string
		value     float64 // a histogram's count
	}{
		{name: "temporal_request_total", typ: "COUNTER", value: 2},
		{name: "temporal_worker_task_slots_available", typ: "GAUGE", value: 7},
		{name: "temporal_request_latency_seconds", typ: "HISTOGRAM", value: 1},
	}
	got := samples(t, reg)
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			var found []sample
			for _, s := range got {
				if s.name == w.name {
					found = append(found, s)
				}
			}
			require.Len(t, found, 1, "got %+v, want one series named %s", got, w.name)
			s := found[0]
			require.Equal(t, w.typ, s.typ, "type: got %s, want %s", s.typ, w.typ)
			value := s.value
			if s.typ == "HISTOGRAM" {
				value = float64(s.count)
				require.InDelta(t, 0.03, s.value, 0.001, "sum in seconds: got %v, want 0.03", s.value)
			}
			require.Equal(t, w.value, value, "got %v, want %v", value, w.value)
			require.Equal(t, map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"}, s.labels)
		})
	}
}

func TestRegister(t *testing.T) {
	counter := func(name string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "h"})
	}
	require.NoError(t, metrics.Register(nil, counter("a_total")), "nil registers nothing")
	reg := prometheus.NewRegistry()
	require.NoError(t, metrics.Register(reg, counter("a_total"), counter("b_total")))
	err := metrics.Register(reg, counter("c_total"), counter("a_total"))
	require.Error(t, err, "a name taken twice")
	require.True(t, strings.Contains(err.Error(), `"a_total"`), "got %v, want an error naming a_total", err)
	_, err = metrics.NewTemporal(nil, testenv.Logger(t))
	require.Error(t, err)
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	require.NoError(t, metrics.Register(reg, metrics.NewBuildInfo("bridge")))
	got := samples(t, reg)
	require.Len(t, got, 1)
	require.Equal(t, metrics.BuildInfoMetric, got[0].name)
	require.Equal(t, 1.0, got[0].value)
	require.Equal(t, "bridge", got[0].labels["program"])
	for _, l := range []string{"version", "commit", "go_version"} {
		require.Contains(t, got[0].labels, l, "got labels %v, want %s", got[0].labels, l)
	}
	require.True(t, strings.HasPrefix(got[0].labels["go_version"], "go"), "go_version %q", got[0].labels["go_version"])
}
