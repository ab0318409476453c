package bridge

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowbridge/flowbridge/internal/routing"
)

// TestMetricsCacheChildren: counting and observing land in the series of their labels,
// and once a series exists the hot path allocates nothing to reach it.
func TestMetricsCacheChildren(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.count("user.signedup", OutcomeRouted)
	}
	m.count("user.signedup", OutcomeRetried)
	m.count("other", OutcomeRouted)
	m.observe("user.signedup", routing.Start, time.Now())
	m.observe("user.signedup", routing.Signal, time.Now())

	tests := []struct {
		name     string
		typ, out string
		want     float64
	}{
		{name: "routed", typ: "user.signedup", out: OutcomeRouted, want: 3},
		{name: "retried", typ: "user.signedup", out: OutcomeRetried, want: 1},
		{name: "other type", typ: "other", out: OutcomeRouted, want: 1},
		{name: "never counted", typ: "other", out: OutcomeRetried, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dto.Metric
			if err := m.events.WithLabelValues(tt.typ, tt.out).Write(&d); err != nil {
				t.Fatal(err)
			}
			got := d.GetCounter().GetValue()
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	ch := make(chan prometheus.Metric, 10)
	m.latency.Collect(ch)
	close(ch)
	if got, want := len(ch), 2; got != want {
		t.Errorf("latency series: got %v, want %v", got, want)
	}

	begin := time.Now()
	if got := testing.AllocsPerRun(100, func() {
		m.count("user.signedup", OutcomeRouted)
		m.observe("user.signedup", routing.Start, begin)
	}); got != 0 {
		t.Errorf("allocations per count and observe: got %v, want 0", got)
	}
}

// BenchmarkMetricsCountObserve is what finish spends on metrics per event.
func BenchmarkMetricsCountObserve(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	begin := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.count("user.signedup", OutcomeRouted)
		m.observe("user.signedup", routing.Start, begin)
	}
}
