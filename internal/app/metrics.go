package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowbridge/flowbridge/internal/metrics"
)

// NewRegistry returns the registry a process serves on /metrics, with Go's and the
// process's collectors, flowbridge_build_info{program=program} and its NATS connections'
// state. Every other metric of the process is registered with it by metrics.Register.
func NewRegistry(program string, conns ...*NATSConn) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	err := metrics.Register(reg,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewBuildInfo(program),
		newNATSCollector(conns),
	)
	if err != nil {
		return nil, err
	}
	return reg, nil
}

// natsCollector reports each NATS connection's state when scraped: no I/O, the client's
// own view.
type natsCollector struct {
	conns                 []*NATSConn
	connected, reconnects *prometheus.Desc
}

func newNATSCollector(conns []*NATSConn) natsCollector {
	return natsCollector{
		conns: conns,
		connected: prometheus.NewDesc("flowbridge_nats_connected",
			"1 while the NATS connection is connected, 0 while it is away (reconnecting, or closed for good), by connection name.",
			[]string{"connection"}, nil),
		reconnects: prometheus.NewDesc("flowbridge_nats_reconnects_total",
			"Times the NATS connection reconnected after losing the server, by connection name.",
			[]string{"connection"}, nil),
	}
}

func (c natsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connected
	ch <- c.reconnects
}

func (c natsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, nc := range c.conns {
		if nc == nil {
			continue
		}
		up := 0.0
		if nc.IsConnected() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, up, nc.name)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(nc.Stats().Reconnects), nc.name)
	}
}
