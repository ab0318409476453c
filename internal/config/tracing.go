package config

import (
	"fmt"
	"net/url"
	"strconv"

	flag "github.com/spf13/pflag"
)

// Tracing is where a binary's spans go, set by the OpenTelemetry SDK's standard variables
// (docs/CONTRACT.md, "Tracing"). flowbridge reads the few that choose the exporter; the
// OTLP exporter reads the rest itself (endpoint, headers, TLS, timeout, compression), as
// the SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// OTEL_BSP_*. With none set, nothing is exported and tracing costs next to nothing.
type Tracing struct {
	// Exporter is OTEL_TRACES_EXPORTER: otlp or none. Empty: otlp when an OTLP endpoint is
	// set (Endpoint), else none.
	Exporter string
	// Protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL:
	// grpc or http/protobuf. Empty: http/protobuf, the specification's default.
	Protocol string
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT:
	// read here only to turn exporting on and to be checked; the exporter reads it itself.
	Endpoint string
	// Disabled is OTEL_SDK_DISABLED: true turns tracing off whatever else is set.
	Disabled bool
}

// Values of OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_PROTOCOL that flowbridge takes.
const (
	TracesExporterOTLP = "otlp"
	TracesExporterNone = "none"
	OTLPProtocolGRPC   = "grpc"
	OTLPProtocolHTTP   = "http/protobuf"
)

func (t *Tracing) register(fs *flag.FlagSet, env func(string) string) {
	fs.StringVar(&t.Exporter, "otel-traces-exporter", env("OTEL_TRACES_EXPORTER"),
		"where spans go: otlp or none; default: otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none (OTEL_TRACES_EXPORTER)")
	fs.StringVar(&t.Protocol, "otel-exporter-otlp-protocol", or(env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), env("OTEL_EXPORTER_OTLP_PROTOCOL")),
		"OTLP protocol: grpc or http/protobuf; default: http/protobuf (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL)")
	t.Endpoint = or(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT"))
	// As the SDK reads it: anything but a true value leaves the SDK on.
	t.Disabled, _ = strconv.ParseBool(env("OTEL_SDK_DISABLED"))
}

// Enabled reports whether spans are exported.
func (t Tracing) Enabled() bool {
	switch {
	case t.Disabled:
		return false
	case t.Exporter == "":
		return t.Endpoint != ""
	}
	return t.Exporter == TracesExporterOTLP
}

func (t Tracing) validate() error {
	switch t.Exporter {
	case "", TracesExporterOTLP, TracesExporterNone:
	default:
		return invalid("OTEL_TRACES_EXPORTER", fmt.Sprintf("%q is not otlp or none (flowbridge exports traces over OTLP only)", t.Exporter))
	}
	switch t.Protocol {
	case "", OTLPProtocolGRPC, OTLPProtocolHTTP:
	default:
		return invalid("OTEL_EXPORTER_OTLP_PROTOCOL", fmt.Sprintf("%q is not grpc or http/protobuf", t.Protocol))
	}
	if t.Endpoint != "" && t.Enabled() {
		// Never echo the value: a URL may carry credentials.
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("OTEL_EXPORTER_OTLP_ENDPOINT", "(or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) must be an http:// or https:// URL, such as http://otel-collector:4318")
		}
	}
	return nil
}
