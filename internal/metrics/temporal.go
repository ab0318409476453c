// Package metrics holds what both binaries share about Prometheus metrics: the policy for
// registering them (Register), the build_info gauge, latency buckets, the Temporal SDK's
// metrics (NewTemporal) and the worker's activity outcomes (ActivityOutcomes).
package metrics

import (
	"fmt"
	"io"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// DefaultBuckets are the upper bounds, in seconds, of the histograms the SDK's timers
// become: from 1ms (a workflow task) to 1h (a long activity, a workflow from start to
// close).
var DefaultBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
}

// temporalFlushInterval is how often the SDK's counters and gauges reach Prometheus
// (timers are recorded at once).
const temporalFlushInterval = time.Second

// sanitizeOptions are the SDK's sanitize options for Prometheus
// (sdktally.PrometheusSanitizeOptions) for names and label names; label values, which
// Prometheus takes as they are, are kept as they are (the SDK's options would report task
// queue "payments-eu" as "payments_eu"), control characters aside.
var sanitizeOptions = tally.SanitizeOptions{
	NameCharacters:       sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:        sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters:      tally.ValidCharacters{Ranges: []tally.SanitizeRange{{' ', '~'}, {0xA0, unicode.MaxRune}}},
	ReplacementCharacter: sdktally.PrometheusSanitizeOptions.ReplacementCharacter,
}

// Temporal records the Temporal SDK's metrics in Prometheus through the SDK's own adapter,
// go.temporal.io/sdk/contrib/tally, with tally's Prometheus reporter, set up as the SDK
// documents it (its naming scope, its sanitize options but for label values). The names are those Temporal's
// Grafana SDK dashboard (temporal-go-java-sdks-tally.json) queries: counters end in
// _total (temporal_request_total, temporal_workflow_completed_total), timers are
// histograms in seconds ending in _seconds (temporal_request_latency_seconds_bucket,
// temporal_activity_execution_latency_seconds_bucket), gauges keep their name
// (temporal_worker_task_slots_available). Tags are labels.
type Temporal struct {
	handler client.MetricsHandler
	closer  io.Closer
}

// NewTemporal returns the SDK's metrics handler, registering each metric with reg as the
// SDK first emits it. A metric reg refuses (another collector has its name, or the SDK
// emits a name with a second set of tags) is dropped and logged once at warn. Close it
// when the clients using it are closed.
func NewTemporal(reg prometheus.Registerer, log zerolog.Logger) (*Temporal, error) {
	if reg == nil {
		return nil, fmt.Errorf("Temporal metrics: nil prometheus.Registerer")
	}
	log = log.With().Str("component", "temporal_metrics").Logger()
	var refused sync.Map // error text → struct{}: each logged once
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: DefaultBuckets,
		// The default panics.
		OnRegisterError: func(err error) {
			if _, seen := refused.LoadOrStore(err.Error(), struct{}{}); !seen {
				log.Warn().Err(err).Msg("A Temporal SDK metric could not be registered; it is not recorded")
			}
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitizeOptions,
		// tally's own tally_internal_* series say nothing an operator needs.
		OmitCardinalityMetrics: true,
	}, temporalFlushInterval)
	return &Temporal{
		handler: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		closer:  closer,
	}, nil
}

// Handler is the handler to set as client.Options.MetricsHandler.
func (t *Temporal) Handler() client.MetricsHandler { return t.handler }

// Close reports what is not reported yet and stops the reporting.
func (t *Temporal) Close() error { return t.closer.Close() }
