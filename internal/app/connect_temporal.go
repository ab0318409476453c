package app

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/logging"
)

// codecTimeout bounds one request to the codec server (TEMPORAL_CODEC_ENDPOINT).
const codecTimeout = 10 * time.Second

// TemporalOptions builds the SDK's client options from cfg (config.Temporal, loaded). The
// connection is the SDK's own conversion of the resolved profile (envconfig): TLS and
// mTLS, the API key sent as the authorization header, the profile's gRPC headers. To it
// are added the logger, TEMPORAL_GRPC_COMPRESSION and, with TEMPORAL_CODEC_ENDPOINT, a data
// converter that encodes and decodes payloads at the codec server. The bridge, the worker
// and the operator commands all connect with it.
func TemporalOptions(cfg config.Temporal, log zerolog.Logger) (client.Options, error) {
	opts, err := cfg.Client.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		// config.Temporal.Load checked the files; they changed since.
		return client.Options{}, fmt.Errorf("Temporal TLS settings (TEMPORAL_TLS_*): %w", err)
	}
	opts.Logger = temporalLogger(log)
	opts.ConnectionOptions.GrpcCompression = temporalCompression(cfg.GRPCCompression)
	if codecs := temporalCodecs(cfg); codecs != nil {
		opts.DataConverter = converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codecs...)
	}
	log.Info().Str("temporal_address", opts.HostPort).Str("temporal_namespace", opts.Namespace).
		Bool("tls", config.TemporalTLS(cfg.Client)).Bool("api_key", cfg.Client.APIKey != "").
		Bool("client_certificate", cfg.Client.TLS != nil && (cfg.Client.TLS.ClientCertPath != "" || len(cfg.Client.TLS.ClientCertData) > 0)).
		Str("profile", cfg.Profile).Bool("codec_server", opts.DataConverter != nil).
		Msg("Temporal connection")
	return opts, nil
}

// temporalCodecs is the codec server of TEMPORAL_CODEC_ENDPOINT as a payload codec, or nil.
// It speaks the protocol of the CLI's --codec-endpoint and the Temporal UI's codec server:
// POST /encode and /decode with the namespace in X-Namespace and TEMPORAL_CODEC_AUTH as the
// Authorization header.
func temporalCodecs(cfg config.Temporal) []converter.PayloadCodec {
	c := cfg.Client.Codec
	if c == nil || c.Endpoint == "" {
		return nil
	}
	namespace := cfg.Client.Namespace
	return []converter.PayloadCodec{converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: c.Endpoint,
		Client:   http.Client{Timeout: codecTimeout},
		ModifyRequest: func(req *http.Request) error {
			req.Header.Set("X-Namespace", namespace)
			if c.Auth != "" {
				req.Header.Set("Authorization", c.Auth)
			}
			return nil
		},
	})}
}

// newTemporalClient returns a client that connects on first use, so a process can start
// (and report not-ready) while Temporal is down. It records the SDK's metrics with mh
// (nil: none).
func newTemporalClient(cfg config.Temporal, log zerolog.Logger, mh client.MetricsHandler) (client.Client, error) {
	opts, err := TemporalOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	opts.MetricsHandler = mh
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("Temporal client for %s (TEMPORAL_ADDRESS): %w", opts.HostPort, err)
	}
	return c, nil
}

// temporalCompression applies TEMPORAL_GRPC_COMPRESSION. The SDK gzips every request (and
// the server then gzips its reply) unless told otherwise; config.Temporal.Load has checked
// the value.
func temporalCompression(mode string) client.GrpcCompression {
	if mode == "gzip" {
		return &client.GrpcCompressionGzip{}
	}
	return &client.GrpcCompressionNone{}
}

func temporalLogger(log zerolog.Logger) logging.Temporal {
	return logging.NewTemporal(log.With().Str("component", "temporal").Logger())
}
