package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/schemas"
)

// The sampled gauges say what the server says: before the streams exist there is no
// consumer series and no dead letter; then the consumer's undelivered messages (its lag),
// the deliveries not acknowledged, and the dead letters on EVENTS_DLQ.
func TestSampleStreams(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m := newMetrics()

	require.NoError(t, m.sample(ctx, n.JS, 5*time.Second), "nothing created yet is not an error")
	require.Equal(t, 0, testutil.CollectAndCount(m.pending), "consumer series before the consumer exists")
	require.Equal(t, 0.0, testutil.ToFloat64(m.dlqDepth))

	require.NoError(t, events.EnsureStreams(ctx, n.JS, time.Minute))
	cons, err := n.JS.CreateOrUpdateConsumer(ctx, events.Stream, events.BridgeConsumerConfig(events.BridgeConsumer, time.Minute))
	require.NoError(t, err)
	for range 5 {
		_, err := n.JS.Publish(ctx, events.Subject("user.signedup"), []byte("{}"))
		require.NoError(t, err)
	}
	for range 2 {
		_, err := n.JS.Publish(ctx, events.DLQSubject("user.signedup"), []byte("{}"))
		require.NoError(t, err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	got := 0
	for range batch.Messages() {
		got++ // taken, not acknowledged
	}
	require.Equal(t, 2, got, "fetched")

	require.NoError(t, m.sample(ctx, n.JS, 5*time.Second))
	tests := []struct {
		name      string
		got, want float64
	}{
		{name: "lag", got: testutil.ToFloat64(m.pending.WithLabelValues(events.Stream, events.BridgeConsumer)), want: 3},
		{name: "ack pending", got: testutil.ToFloat64(m.ackPending.WithLabelValues(events.Stream, events.BridgeConsumer)), want: 2},
		{name: "dead letters", got: testutil.ToFloat64(m.dlqDepth), want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got, "got %v, want %v", tt.got, tt.want)
		})
	}
}

// A routed delivery's end-to-end latency counts from the event's time, else from when the
// stream stored it; other outcomes are not observed.
func TestObserveEndToEnd(t *testing.T) {
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	b := &Bridge{metrics: newMetrics(), schemas: sch}
	settled := time.Now()
	tests := []struct {
		name    string
		out     Outcome // of type user.signedup
		wantSum float64
		count   uint64
	}{
		{name: "event time", out: Outcome{EventType: "user.signedup", Outcome: OutcomeRouted, EventTime: settled.Add(-3 * time.Second), ReceivedAt: settled.Add(-time.Second), SettledAt: settled}, wantSum: 3, count: 1},
		{name: "no event time: stored", out: Outcome{EventType: "user.signedup", Outcome: OutcomeRouted, ReceivedAt: settled.Add(-2 * time.Second), SettledAt: settled}, wantSum: 5, count: 2},
		{name: "a time in the future counts 0", out: Outcome{EventType: "user.signedup", Outcome: OutcomeRouted, EventTime: settled.Add(time.Hour), SettledAt: settled}, wantSum: 5, count: 3},
		{name: "not routed", out: Outcome{EventType: "user.signedup", Outcome: OutcomeRetried, EventTime: settled.Add(-time.Hour), SettledAt: settled}, wantSum: 5, count: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.observeEndToEnd(tt.out)
			h := histogramOf(t, b.metrics)
			require.InDelta(t, tt.wantSum, h.GetSampleSum(), 0.001, "sum: got %v, want %v", h.GetSampleSum(), tt.wantSum)
			require.Equal(t, tt.count, h.GetSampleCount(), "count: got %v, want %v", h.GetSampleCount(), tt.count)
		})
	}
	routed := tests[0].out
	if got := testing.AllocsPerRun(100, func() { b.observeEndToEnd(routed) }); got != 0 {
		t.Errorf("allocations per observation: got %v, want 0", got)
	}
}

// histogramOf is the end-to-end histogram of type user.signedup.
func histogramOf(t *testing.T, m *Metrics) *dto.Histogram {
	t.Helper()
	var d dto.Metric
	require.NoError(t, m.endToEnd.WithLabelValues("user.signedup").(prometheus.Metric).Write(&d))
	return d.GetHistogram()
}
