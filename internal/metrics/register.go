package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register is flowbridge's one way to register metrics. Each process has one registry of
// its own, built in internal/app (never Prometheus's global one); each component's
// metrics are registered with it once, when the process is built, and a failure — a name
// taken twice, a programming error — is an error that stops the start-up, not a panic
// and not something shared or ignored. A nil reg registers nothing (tests that do not read
// metrics). It returns the first error, naming the collector.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics %s: %w", describe(c), err)
		}
	}
	return nil
}

// describe names c's first metric, for errors.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	name := fmt.Sprintf("%T", c)
	if d, ok := <-ch; ok {
		name = d.String()
	}
	for range ch {
	}
	return name
}

// LatencyBuckets are the upper bounds, in seconds, of flowbridge's own latency
// histograms (names ending in _duration_seconds): 1ms to about 16s, doubling.
var LatencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// EndToEndBuckets are for latencies that include waiting — an event's age when Temporal
// took it, retries and parked signals included: 10ms to 1h.
var EndToEndBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
