package app

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/telemetry"
)

// tracingFlushTimeout bounds the export of the spans still buffered at shutdown.
const tracingFlushTimeout = 5 * time.Second

// StartTracing returns the tracer provider of service as cfg says (nil: tracing is off)
// and a stop that flushes its spans; it logs where spans go, never the endpoint's
// headers.
func StartTracing(ctx context.Context, cfg config.Tracing, service string, log zerolog.Logger) (trace.TracerProvider, func(), error) {
	tp, shutdown, err := telemetry.Setup(ctx, cfg, service)
	if err != nil {
		return nil, nil, err
	}
	if tp == nil {
		log.Debug().Msg("Tracing off: no OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT")
		return nil, func() {}, nil
	}
	log.Info().Str("protocol", or(cfg.Protocol, config.OTLPProtocolHTTP)).Bool("endpoint_set", cfg.Endpoint != "").Msg("Tracing on: spans exported over OTLP")
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn().Err(err).Msg("Could not export the last spans (OTEL_EXPORTER_OTLP_ENDPOINT)")
		}
	}
	return tp, stop, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
