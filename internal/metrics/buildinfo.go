package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowbridge/flowbridge/internal/version"
)

// BuildInfoMetric is the gauge naming the running build.
const BuildInfoMetric = "flowbridge_build_info"

// NewBuildInfo returns flowbridge_build_info{program,version,commit,go_version}, always 1,
// from what the toolchain recorded in the binary (internal/version): join it to other
// series to see which build produced them.
func NewBuildInfo(program string) prometheus.Collector {
	b := version.Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: BuildInfoMetric,
		Help: "The running build: program (bridge, worker), module version, VCS commit (empty when not stamped) and Go version. Always 1.",
		ConstLabels: prometheus.Labels{
			"program": program, "version": b.Version, "commit": b.Commit, "go_version": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}
