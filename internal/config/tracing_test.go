package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

func TestTracingFromOTELVariables(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    config.Tracing
		enabled bool
	}{
		{name: "nothing set: off", want: config.Tracing{}},
		{name: "an endpoint turns it on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: config.Tracing{Endpoint: "http://collector:4318"}, enabled: true},
		{name: "the traces endpoint wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/v1/traces"},
			want: config.Tracing{Endpoint: "https://b/v1/traces"}, enabled: true},
		{name: "otlp with the default endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			want: config.Tracing{Exporter: "otlp"}, enabled: true},
		{name: "none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: config.Tracing{Exporter: "none", Endpoint: "http://collector:4318"}},
		{name: "OTEL_SDK_DISABLED wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
			want: config.Tracing{Exporter: "otlp", Disabled: true}},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"},
			want: config.Tracing{Protocol: "grpc", Endpoint: "http://collector:4317"}, enabled: true},
		{name: "the traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			want: config.Tracing{Protocol: "http/protobuf"}},
		{name: "flags", args: []string{"-otel-traces-exporter=otlp", "-otel-exporter-otlp-protocol=grpc"},
			want: config.Tracing{Exporter: "otlp", Protocol: "grpc"}, enabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadBridge(tt.args, envOf(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.want, c.Tracing, "got %+v, want %+v", c.Tracing, tt.want)
			require.Equal(t, tt.enabled, c.Tracing.Enabled(), "enabled: got %v, want %v", c.Tracing.Enabled(), tt.enabled)
			w, err := config.LoadWorker(tt.args, envOf(with(map[string]string{"STRIPE_API_KEY": "sk_test_x"}, tt.env)))
			require.NoError(t, err)
			require.Equal(t, tt.want, w.Tracing, "worker: got %+v, want %+v", w.Tracing, tt.want)
		})
	}
}

func TestTracingSettingsAreValidated(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "an exporter flowbridge lacks", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: []string{"OTEL_TRACES_EXPORTER", `"zipkin" is not otlp or none`}},
		{name: "several exporters", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp,console"}, wantErr: []string{"OTEL_TRACES_EXPORTER"}},
		{name: "http/json", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", `"http/json" is not grpc or http/protobuf`}},
		{name: "an endpoint without a scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, wantErr: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http:// or https://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(nil, envOf(tt.env))
			requireInvalid(t, err, tt.wantErr...)
		})
	}
}

// An endpoint's value is never echoed: it may carry credentials.
func TestTracingEndpointNotShown(t *testing.T) {
	_, err := config.LoadBridge(nil, envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "user:s3cret@collector"}))
	requireInvalid(t, err, "OTEL_EXPORTER_OTLP_ENDPOINT")
	require.NotContains(t, err.Error(), "s3cret")
}
