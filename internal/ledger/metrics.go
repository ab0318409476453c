package ledger

import "github.com/prometheus/client_golang/prometheus"

// collector reports the ledger's counters, which live in atomics so that Record costs
// one atomic add when it drops.
type collector struct {
	l                                   *Ledger
	dropped, written, deleted, buffered *prometheus.Desc
}

func newCollector(l *Ledger) collector {
	return collector{
		l: l,
		dropped: prometheus.NewDesc("flowbridge_ledger_dropped_total",
			"Delivery outcomes the event ledger could not record, by reason (buffer_full, unavailable, write_failed, shutdown, no_event_id, rejected). Routing is unaffected.",
			[]string{"reason"}, nil),
		written: prometheus.NewDesc("flowbridge_ledger_written_total",
			"Delivery outcomes written to the event ledger.", nil, nil),
		deleted: prometheus.NewDesc("flowbridge_ledger_deleted_total",
			"Event ledger rows deleted after the retention period.", nil, nil),
		buffered: prometheus.NewDesc("flowbridge_ledger_buffered",
			"Delivery outcomes waiting to be written to the event ledger.", nil, nil),
	}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dropped
	ch <- c.written
	ch <- c.deleted
	ch <- c.buffered
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for i, name := range dropReasons {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(c.l.dropped[i].Load()), name)
	}
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(c.l.written.Load()))
	ch <- prometheus.MustNewConstMetric(c.deleted, prometheus.CounterValue, float64(c.l.deleted.Load()))
	ch <- prometheus.MustNewConstMetric(c.buffered, prometheus.GaugeValue, float64(len(c.l.in)))
}
