package config_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/flowbridge/flowbridge/internal/config"
)

// envOf returns an env lookup over m, so tests never read the process environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// with returns base plus the entries of extra.
func with(base map[string]string, extra map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// contractCommon is docs/CONTRACT.md's table of defaults, written out.
var contractCommon = config.Common{
	NATS: config.NATS{URL: "nats://127.0.0.1:4222"},
	Temporal: config.Temporal{
		Client: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default"},
		// GRPCCompression: none, the faster on the measured setup.
		GRPCCompression: "none",
	},
	TaskQueue:   "flowbridge",
	DatabaseURL: "postgres://postgres@127.0.0.1:5432/flowbridge?sslmode=disable",
	LogLevel:    "info",
	LogFormat:   "json",
}

func TestDefaultConstantsMatchTheContract(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "NATS_URL", got: config.DefaultNATSURL, want: contractCommon.NATS.URL},
		{name: "TEMPORAL_ADDRESS", got: config.DefaultTemporalAddress, want: contractCommon.Temporal.Client.Address},
		{name: "TEMPORAL_NAMESPACE", got: config.DefaultTemporalNamespace, want: contractCommon.Temporal.Client.Namespace},
		{name: "TEMPORAL_TASK_QUEUE", got: config.DefaultTaskQueue, want: contractCommon.TaskQueue},
		{name: "TEMPORAL_GRPC_COMPRESSION", got: config.DefaultTemporalGRPCCompression, want: contractCommon.Temporal.GRPCCompression},
		{name: "DATABASE_URL", got: config.DefaultDatabaseURL, want: contractCommon.DatabaseURL},
		{name: "HTTP_ADDR", got: config.DefaultHTTPAddr, want: "127.0.0.1:8080"},
		{name: "ADMIN_ADDR", got: config.DefaultAdminAddr, want: "127.0.0.1:9090"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got, "got %v, want %v", tt.got, tt.want)
		})
	}
}

// requireInvalid checks err wraps ErrInvalid and names every setting in names.
func requireInvalid(t *testing.T, err error, names ...string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, config.ErrInvalid), "got %v, want it to wrap ErrInvalid", err)
	for _, n := range names {
		require.Contains(t, err.Error(), n)
	}
}

func TestCommonSettingsAreValidated(t *testing.T) {
	// Both binaries share these checks; run each case through both loaders.
	workerEnv := map[string]string{"STRIPE_API_KEY": "sk_test_x"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr []string
	}{
		{name: "bad LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: []string{"LOG_LEVEL", `"verbose" is not one of trace, debug, info, warn, error`}},
		{name: "LOG_LEVEL in upper case", env: map[string]string{"LOG_LEVEL": "INFO"}, wantErr: []string{"LOG_LEVEL", `"INFO"`}},
		{name: "bad LOG_FORMAT", env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: []string{"LOG_FORMAT", `"xml" is not json or console`}},
		{name: "TEMPORAL_ADDRESS without port", env: map[string]string{"TEMPORAL_ADDRESS": "temporal.internal"}, wantErr: []string{"TEMPORAL_ADDRESS", `"temporal.internal" is not host:port`}},
		{name: "TEMPORAL_ADDRESS with empty port", env: map[string]string{"TEMPORAL_ADDRESS": "temporal.internal:"}, wantErr: []string{"TEMPORAL_ADDRESS", "is not host:port"}},
		{name: "TEMPORAL_ADDRESS with named port", env: map[string]string{"TEMPORAL_ADDRESS": "temporal.internal:grpc"}, wantErr: []string{"TEMPORAL_ADDRESS", "has no valid port"}},
		{name: "TEMPORAL_ADDRESS with port out of range", env: map[string]string{"TEMPORAL_ADDRESS": "temporal.internal:70000"}, wantErr: []string{"TEMPORAL_ADDRESS", "has no valid port"}},
		{name: "TEMPORAL_ADDRESS as a URL", env: map[string]string{"TEMPORAL_ADDRESS": "http://temporal.internal"}, wantErr: []string{"TEMPORAL_ADDRESS"}},
		{name: "DATABASE_URL not postgres", env: map[string]string{"DATABASE_URL": "mysql://root@127.0.0.1:3306/flowbridge"}, wantErr: []string{"DATABASE_URL", "must be a postgres:// URL"}},
		{name: "DATABASE_URL a key=value string", env: map[string]string{"DATABASE_URL": "host=127.0.0.1 dbname=flowbridge"}, wantErr: []string{"DATABASE_URL"}},
		{name: "empty NATS url flag", args: []string{"-nats-url="}, wantErr: []string{"NATS_URL", "must not be empty"}},
		{name: "empty namespace flag", args: []string{"-temporal-namespace="}, wantErr: []string{"TEMPORAL_NAMESPACE", "must not be empty"}},
		{name: "empty task queue flag", args: []string{"-task-queue="}, wantErr: []string{"TEMPORAL_TASK_QUEUE", "must not be empty"}},
		{name: "bad log level flag", args: []string{"-log-level=loud"}, wantErr: []string{"LOG_LEVEL", `"loud"`}},
		{name: "bad TEMPORAL_GRPC_COMPRESSION", env: map[string]string{"TEMPORAL_GRPC_COMPRESSION": "zstd"}, wantErr: []string{"TEMPORAL_GRPC_COMPRESSION", `"zstd" is not none or gzip`}},
		{name: "TEMPORAL_GRPC_COMPRESSION in upper case", env: map[string]string{"TEMPORAL_GRPC_COMPRESSION": "GZIP"}, wantErr: []string{"TEMPORAL_GRPC_COMPRESSION", `"GZIP"`}},
		{name: "bad compression flag", args: []string{"-temporal-grpc-compression=snappy"}, wantErr: []string{"TEMPORAL_GRPC_COMPRESSION", `"snappy"`}},
		{
			name:    "every problem is reported",
			env:     map[string]string{"LOG_LEVEL": "verbose", "LOG_FORMAT": "xml", "DATABASE_URL": "mysql://x"},
			wantErr: []string{"LOG_LEVEL", "LOG_FORMAT", "DATABASE_URL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("bridge", func(t *testing.T) {
				_, err := config.LoadBridge(tt.args, envOf(tt.env))
				requireInvalid(t, err, tt.wantErr...)
			})
			t.Run("worker", func(t *testing.T) {
				_, err := config.LoadWorker(tt.args, envOf(with(workerEnv, tt.env)))
				requireInvalid(t, err, tt.wantErr...)
			})
		})
	}
}

func TestCommonAcceptsValidValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "postgresql scheme", env: map[string]string{"DATABASE_URL": "postgresql://u:p@db:5432/fb"}},
		{name: "trace", env: map[string]string{"LOG_LEVEL": "trace"}},
		{name: "debug", env: map[string]string{"LOG_LEVEL": "debug"}},
		{name: "warn", env: map[string]string{"LOG_LEVEL": "warn"}},
		{name: "error", env: map[string]string{"LOG_LEVEL": "error"}},
		{name: "console logs", env: map[string]string{"LOG_FORMAT": "console"}},
		{name: "IPv6 Temporal address", env: map[string]string{"TEMPORAL_ADDRESS": "[::1]:7233"}},
		{name: "several NATS servers", env: map[string]string{"NATS_URL": "nats://a:4222,nats://b:4222"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadBridge(nil, envOf(tt.env))
			require.NoError(t, err)
			for k, v := range tt.env {
				got := map[string]string{
					"DATABASE_URL": c.DatabaseURL, "LOG_LEVEL": c.LogLevel, "LOG_FORMAT": c.LogFormat,
					"TEMPORAL_ADDRESS": c.Temporal.Client.Address, "NATS_URL": c.NATS.URL,
				}[k]
				require.Equal(t, v, got, "%s: got %v, want %v", k, got, v)
			}
		})
	}
}

func TestSecretList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "unset", in: "", want: nil},
		{name: "one", in: "whsec_1", want: []string{"whsec_1"}},
		{name: "rotation", in: "whsec_new,whsec_old", want: []string{"whsec_new", "whsec_old"}},
		{name: "spaces trimmed", in: "  whsec_new , whsec_old  ", want: []string{"whsec_new", "whsec_old"}},
		{name: "empty entries dropped", in: ",whsec_1,, ,whsec_2,", want: []string{"whsec_1", "whsec_2"}},
		{name: "only separators", in: " , ,, ", want: nil},
		{name: "inner spaces kept", in: "a b", want: []string{"a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := config.SecretList(tt.in)
			require.Equal(t, tt.want, got, "got %q, want %q", got, tt.want)
		})
	}
}
