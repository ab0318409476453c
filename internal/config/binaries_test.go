package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

// workerKey is the one setting the worker cannot default.
var workerKey = map[string]string{"STRIPE_API_KEY": "sk_test_123"}

func TestLoadBridgeDefaults(t *testing.T) {
	got, err := config.LoadBridge(nil, envOf(nil))
	require.NoError(t, err)
	want := config.Bridge{
		Common:            contractCommon,
		HTTPAddr:          "127.0.0.1:8080",
		AdminAddr:         "127.0.0.1:9090",
		Lanes:             256,
		SignalWait:        10 * time.Minute,
		MaxRetryAge:       24 * time.Hour,
		AckWait:           30 * time.Second,
		DuplicateWindow:   10 * time.Minute,
		Streams:           config.Streams{Replicas: 1, Storage: "file"},
		Provision:         true,
		MaxBodyBytes:      1 << 20,
		MaxHeaderBytes:    64 << 10,
		MaxInFlight:       1024,
		LedgerRetention:   7 * 24 * time.Hour,
		LedgerBuffer:      10000,
		LedgerBufferBytes: 16 << 20,
		StripeAPIBase:     "https://api.stripe.com",
	}
	require.Equal(t, want, got, "got %+v, want %+v", got, want)
	require.Empty(t, got.StripeWebhookSecrets, "STRIPE_WEBHOOK_SECRET unset: got %v, want none", got.StripeWebhookSecrets)
	require.Empty(t, got.GitHubWebhookSecrets, "GITHUB_WEBHOOK_SECRET unset: got %v, want none", got.GitHubWebhookSecrets)
	require.GreaterOrEqual(t, got.DuplicateWindow, 2*time.Minute, "the contract asks for a duplicate window of at least 2m")
}

func TestLoadWorkerDefaults(t *testing.T) {
	got, err := config.LoadWorker(nil, envOf(workerKey))
	require.NoError(t, err)
	want := config.Worker{
		Common:                   contractCommon,
		HTTPAddr:                 "127.0.0.1:8081",
		SMTPAddr:                 "127.0.0.1:1025",
		MailFrom:                 "flowbridge <no-reply@flowbridge.local>",
		SMTPTLS:                  "starttls",
		SMTPAuth:                 "auto",
		StopTimeout:              25 * time.Second,
		StripeAPIBase:            "https://api.stripe.com",
		StripeAPIKey:             "sk_test_123",
		AppURL:                   "http://localhost:3000",
		ReminderAfter:            24 * time.Hour,
		ExpireAfter:              72 * time.Hour,
		PaymentTenantWait:        24 * time.Hour,
		DeployWorkspace:          filepath.Join(os.TempDir(), "flowbridge-deploys"),
		DeployHeartbeatTimeout:   10 * time.Second,
		ConnectorSyncMaxPages:    1000,
		ScheduleDailyReport:      "0 6 * * *",
		ScheduleCleanup:          "0 * * * *",
		ScheduleBackup:           "0 2 * * *",
		BackupDir:                filepath.Join(os.TempDir(), "flowbridge-backups"),
		BackupKeep:               7,
		SentEmailRetention:       30 * 24 * time.Hour,
		NotificationRetention:    90 * 24 * time.Hour,
		DeployWorkspaceRetention: 24 * time.Hour,
	}
	require.Equal(t, want, got, "got %+v, want %+v", got, want)
}

func TestLoadBridgeSources(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		get  func(config.Bridge) any
		want any
	}{
		// The environment overrides the defaults.
		{name: "env NATS_URL", env: map[string]string{"NATS_URL": "nats://nats:4222"}, get: func(c config.Bridge) any { return c.NATS.URL }, want: "nats://nats:4222"},
		{name: "env TEMPORAL_ADDRESS", env: map[string]string{"TEMPORAL_ADDRESS": "temporal:7233"}, get: func(c config.Bridge) any { return c.Temporal.Client.Address }, want: "temporal:7233"},
		{name: "env TEMPORAL_NAMESPACE", env: map[string]string{"TEMPORAL_NAMESPACE": "prod"}, get: func(c config.Bridge) any { return c.Temporal.Client.Namespace }, want: "prod"},
		{name: "default TEMPORAL_GRPC_COMPRESSION", get: func(c config.Bridge) any { return c.Temporal.GRPCCompression }, want: "none"},
		{name: "env TEMPORAL_GRPC_COMPRESSION", env: map[string]string{"TEMPORAL_GRPC_COMPRESSION": "gzip"}, get: func(c config.Bridge) any { return c.Temporal.GRPCCompression }, want: "gzip"},
		{name: "flag -temporal-grpc-compression", env: map[string]string{"TEMPORAL_GRPC_COMPRESSION": "gzip"}, args: []string{"-temporal-grpc-compression=none"}, get: func(c config.Bridge) any { return c.Temporal.GRPCCompression }, want: "none"},
		{name: "env TEMPORAL_TASK_QUEUE", env: map[string]string{"TEMPORAL_TASK_QUEUE": "fb-blue"}, get: func(c config.Bridge) any { return c.TaskQueue }, want: "fb-blue"},
		{name: "env DATABASE_URL", env: map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/fb"}, get: func(c config.Bridge) any { return c.DatabaseURL }, want: "postgres://u:p@db:5432/fb"},
		{name: "env LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "debug"}, get: func(c config.Bridge) any { return c.LogLevel }, want: "debug"},
		{name: "env LOG_FORMAT", env: map[string]string{"LOG_FORMAT": "console"}, get: func(c config.Bridge) any { return c.LogFormat }, want: "console"},
		{name: "env HTTP_ADDR", env: map[string]string{"HTTP_ADDR": ":9090"}, get: func(c config.Bridge) any { return c.HTTPAddr }, want: ":9090"},
		{name: "env ADMIN_ADDR", env: map[string]string{"ADMIN_ADDR": "0.0.0.0:9090"}, get: func(c config.Bridge) any { return c.AdminAddr }, want: "0.0.0.0:9090"},
		{name: "env BRIDGE_LANES", env: map[string]string{"BRIDGE_LANES": "8"}, get: func(c config.Bridge) any { return c.Lanes }, want: 8},
		{name: "env INGRESS_MAX_IN_FLIGHT", env: map[string]string{"INGRESS_MAX_IN_FLIGHT": "64"}, get: func(c config.Bridge) any { return c.MaxInFlight }, want: 64},
		{name: "env BRIDGE_SIGNAL_WAIT", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "90s"}, get: func(c config.Bridge) any { return c.SignalWait }, want: 90 * time.Second},
		{name: "env BRIDGE_MAX_RETRY_AGE", env: map[string]string{"BRIDGE_MAX_RETRY_AGE": "6h"}, get: func(c config.Bridge) any { return c.MaxRetryAge }, want: 6 * time.Hour},
		{name: "default BRIDGE_MAX_RETRY_AGE", get: func(c config.Bridge) any { return c.MaxRetryAge }, want: 24 * time.Hour},
		{name: "env BRIDGE_MAX_ATTEMPTS", env: map[string]string{"BRIDGE_MAX_ATTEMPTS": "20"}, get: func(c config.Bridge) any { return c.MaxAttempts }, want: 20},
		{name: "default BRIDGE_MAX_ATTEMPTS", get: func(c config.Bridge) any { return c.MaxAttempts }, want: 0},
		{name: "env BRIDGE_ACK_WAIT", env: map[string]string{"BRIDGE_ACK_WAIT": "2m"}, get: func(c config.Bridge) any { return c.AckWait }, want: 2 * time.Minute},
		{name: "env EVENTS_DUPLICATE_WINDOW at the minimum", env: map[string]string{"EVENTS_DUPLICATE_WINDOW": "2m"}, get: func(c config.Bridge) any { return c.DuplicateWindow }, want: 2 * time.Minute},
		{name: "env STRIPE_WEBHOOK_SECRET rotation", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_new, whsec_old", "STRIPE_API_KEY": "sk_test_1"}, get: func(c config.Bridge) any { return c.StripeWebhookSecrets }, want: []string{"whsec_new", "whsec_old"}},
		{name: "env STRIPE_API_KEY", env: map[string]string{"STRIPE_API_KEY": "rk_test_1"}, get: func(c config.Bridge) any { return c.StripeAPIKey }, want: "rk_test_1"},
		{name: "env STRIPE_API_BASE", env: map[string]string{"STRIPE_API_BASE": "http://127.0.0.1:12111"}, get: func(c config.Bridge) any { return c.StripeAPIBase }, want: "http://127.0.0.1:12111"},
		{name: "env GITHUB_WEBHOOK_SECRET", env: map[string]string{"GITHUB_WEBHOOK_SECRET": "gh-secret"}, get: func(c config.Bridge) any { return c.GitHubWebhookSecrets }, want: []string{"gh-secret"}},

		// Flags override the environment.
		{name: "flag -nats-url", env: map[string]string{"NATS_URL": "nats://env:4222"}, args: []string{"-nats-url", "nats://flag:4222"}, get: func(c config.Bridge) any { return c.NATS.URL }, want: "nats://flag:4222"},
		{name: "flag -temporal-address", env: map[string]string{"TEMPORAL_ADDRESS": "env:7233"}, args: []string{"-temporal-address=flag:7233"}, get: func(c config.Bridge) any { return c.Temporal.Client.Address }, want: "flag:7233"},
		{name: "flag -temporal-namespace", env: map[string]string{"TEMPORAL_NAMESPACE": "env"}, args: []string{"-temporal-namespace=flag"}, get: func(c config.Bridge) any { return c.Temporal.Client.Namespace }, want: "flag"},
		{name: "flag -task-queue", env: map[string]string{"TEMPORAL_TASK_QUEUE": "env"}, args: []string{"-task-queue=flag"}, get: func(c config.Bridge) any { return c.TaskQueue }, want: "flag"},
		{name: "flag -database-url", env: map[string]string{"DATABASE_URL": "postgres://env/fb"}, args: []string{"-database-url=postgres://flag/fb"}, get: func(c config.Bridge) any { return c.DatabaseURL }, want: "postgres://flag/fb"},
		{name: "flag -log-level", env: map[string]string{"LOG_LEVEL": "debug"}, args: []string{"-log-level=warn"}, get: func(c config.Bridge) any { return c.LogLevel }, want: "warn"},
		{name: "flag -log-format", env: map[string]string{"LOG_FORMAT": "json"}, args: []string{"-log-format=console"}, get: func(c config.Bridge) any { return c.LogFormat }, want: "console"},
		{name: "flag -http-addr", env: map[string]string{"HTTP_ADDR": ":9090"}, args: []string{"-http-addr", ":9191"}, get: func(c config.Bridge) any { return c.HTTPAddr }, want: ":9191"},
		{name: "flag -admin-addr", env: map[string]string{"ADMIN_ADDR": "0.0.0.0:9090"}, args: []string{"-admin-addr=127.0.0.1:9191"}, get: func(c config.Bridge) any { return c.AdminAddr }, want: "127.0.0.1:9191"},
		{name: "flag -lanes", env: map[string]string{"BRIDGE_LANES": "8"}, args: []string{"-lanes=4096"}, get: func(c config.Bridge) any { return c.Lanes }, want: 4096},
		{name: "flag -signal-wait", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "90s"}, args: []string{"-signal-wait=1h"}, get: func(c config.Bridge) any { return c.SignalWait }, want: time.Hour},
		{name: "flag -ack-wait", env: map[string]string{"BRIDGE_ACK_WAIT": "2m"}, args: []string{"-ack-wait=1s"}, get: func(c config.Bridge) any { return c.AckWait }, want: time.Second},
		{name: "flag -duplicate-window", env: map[string]string{"EVENTS_DUPLICATE_WINDOW": "5m"}, args: []string{"-duplicate-window=15m"}, get: func(c config.Bridge) any { return c.DuplicateWindow }, want: 15 * time.Minute},
		{name: "env EVENTS_REPLICAS", env: map[string]string{"EVENTS_REPLICAS": "3"}, get: func(c config.Bridge) any { return c.Streams.Replicas }, want: 3},
		{name: "flag -events-replicas", env: map[string]string{"EVENTS_REPLICAS": "3"}, args: []string{"-events-replicas=5"}, get: func(c config.Bridge) any { return c.Streams.Replicas }, want: 5},
		{name: "env EVENTS_PARTITIONS", env: map[string]string{"EVENTS_PARTITIONS": "16"}, get: func(c config.Bridge) any { return c.Streams.Partitions }, want: 16},
		{name: "partitions off by default", get: func(c config.Bridge) any { return c.Streams.Partitions }, want: 0},
		{name: "env EVENTS_STORAGE", env: map[string]string{"EVENTS_STORAGE": "memory"}, get: func(c config.Bridge) any { return c.Streams.Storage }, want: "memory"},
		{name: "flag -events-storage", env: map[string]string{"EVENTS_STORAGE": "memory"}, args: []string{"-events-storage=file"}, get: func(c config.Bridge) any { return c.Streams.Storage }, want: "file"},
		{name: "env EVENTS_PLACEMENT_CLUSTER", env: map[string]string{"EVENTS_PLACEMENT_CLUSTER": "east"}, get: func(c config.Bridge) any { return c.Streams.PlacementCluster }, want: "east"},
		{name: "env EVENTS_PLACEMENT_TAGS", env: map[string]string{"EVENTS_PLACEMENT_TAGS": "ssd, az1,"}, get: func(c config.Bridge) any { return c.Streams.PlacementTags }, want: []string{"ssd", "az1"}},
		{name: "flag -events-placement-tags", env: map[string]string{"EVENTS_PLACEMENT_TAGS": "ssd"}, args: []string{"-events-placement-tags=az2,hdd"}, get: func(c config.Bridge) any { return c.Streams.PlacementTags }, want: []string{"az2", "hdd"}},
		{name: "env DLQ_MAX_AGE", env: map[string]string{"DLQ_MAX_AGE": "720h"}, get: func(c config.Bridge) any { return c.Streams.DLQMaxAge }, want: 720 * time.Hour},
		{name: "flag -dlq-max-age", env: map[string]string{"DLQ_MAX_AGE": "720h"}, args: []string{"-dlq-max-age=0"}, get: func(c config.Bridge) any { return c.Streams.DLQMaxAge }, want: time.Duration(0)},
		{name: "env DLQ_MAX_BYTES", env: map[string]string{"DLQ_MAX_BYTES": "1073741824"}, get: func(c config.Bridge) any { return c.Streams.DLQMaxBytes }, want: int64(1 << 30)},
		{name: "flag -dlq-max-bytes", env: map[string]string{"DLQ_MAX_BYTES": "1073741824"}, args: []string{"-dlq-max-bytes=2097152"}, get: func(c config.Bridge) any { return c.Streams.DLQMaxBytes }, want: int64(2 << 20)},
		{name: "env BRIDGE_PROVISION", env: map[string]string{"BRIDGE_PROVISION": "false"}, get: func(c config.Bridge) any { return c.Provision }, want: false},
		{name: "flag -provision", env: map[string]string{"BRIDGE_PROVISION": "false"}, args: []string{"-provision"}, get: func(c config.Bridge) any { return c.Provision }, want: true},
		{name: "flag fixes a bad env value", env: map[string]string{"LOG_LEVEL": "verbose"}, args: []string{"-log-level=info"}, get: func(c config.Bridge) any { return c.LogLevel }, want: "info"},
		{name: "flag -stripe-api-key", env: map[string]string{"STRIPE_API_KEY": "sk_test_env"}, args: []string{"-stripe-api-key=sk_test_flag"}, get: func(c config.Bridge) any { return c.StripeAPIKey }, want: "sk_test_flag"},
		{name: "flag -stripe-api-base", env: map[string]string{"STRIPE_API_BASE": "http://env"}, args: []string{"-stripe-api-base=http://flag"}, get: func(c config.Bridge) any { return c.StripeAPIBase }, want: "http://flag"},

		// A flag without its variable overrides the default.
		{name: "flag without env", args: []string{"-lanes=1"}, get: func(c config.Bridge) any { return c.Lanes }, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadBridge(tt.args, envOf(tt.env))
			require.NoError(t, err)
			got := tt.get(c)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestLoadWorkerSources(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		get  func(config.Worker) any
		want any
	}{
		{name: "env NATS_URL", env: map[string]string{"NATS_URL": "nats://nats:4222"}, get: func(c config.Worker) any { return c.NATS.URL }, want: "nats://nats:4222"},
		{name: "env TEMPORAL_TASK_QUEUE", env: map[string]string{"TEMPORAL_TASK_QUEUE": "fb-green"}, get: func(c config.Worker) any { return c.TaskQueue }, want: "fb-green"},
		{name: "env WORKER_HTTP_ADDR", env: map[string]string{"WORKER_HTTP_ADDR": "0.0.0.0:8081"}, get: func(c config.Worker) any { return c.HTTPAddr }, want: "0.0.0.0:8081"},
		{name: "flag -http-addr", env: map[string]string{"WORKER_HTTP_ADDR": "0.0.0.0:8081"}, args: []string{"-http-addr=127.0.0.1:9091"}, get: func(c config.Worker) any { return c.HTTPAddr }, want: "127.0.0.1:9091"},
		{name: "env SMTP_ADDR", env: map[string]string{"SMTP_ADDR": "mail:25"}, get: func(c config.Worker) any { return c.SMTPAddr }, want: "mail:25"},
		{name: "env MAIL_FROM", env: map[string]string{"MAIL_FROM": "ops@example.com"}, get: func(c config.Worker) any { return c.MailFrom }, want: "ops@example.com"},
		{name: "env STRIPE_API_BASE", env: map[string]string{"STRIPE_API_BASE": "http://127.0.0.1:12111"}, get: func(c config.Worker) any { return c.StripeAPIBase }, want: "http://127.0.0.1:12111"},
		{name: "env APP_URL", env: map[string]string{"APP_URL": "https://app.example.com"}, get: func(c config.Worker) any { return c.AppURL }, want: "https://app.example.com"},
		{name: "env ONBOARDING_REMINDER_AFTER", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "1h"}, get: func(c config.Worker) any { return c.ReminderAfter }, want: time.Hour},
		{name: "env ONBOARDING_EXPIRE_AFTER", env: map[string]string{"ONBOARDING_EXPIRE_AFTER": "168h"}, get: func(c config.Worker) any { return c.ExpireAfter }, want: 168 * time.Hour},

		{name: "flag -stripe-api-key", env: map[string]string{"STRIPE_API_KEY": "sk_test_env"}, args: []string{"-stripe-api-key=sk_test_flag"}, get: func(c config.Worker) any { return c.StripeAPIKey }, want: "sk_test_flag"},
		{name: "flag -smtp-addr", env: map[string]string{"SMTP_ADDR": "env:25"}, args: []string{"-smtp-addr=flag:2525"}, get: func(c config.Worker) any { return c.SMTPAddr }, want: "flag:2525"},
		{name: "flag -mail-from", env: map[string]string{"MAIL_FROM": "env@example.com"}, args: []string{"-mail-from=flag@example.com"}, get: func(c config.Worker) any { return c.MailFrom }, want: "flag@example.com"},
		{name: "flag -stripe-api-base", env: map[string]string{"STRIPE_API_BASE": "http://env"}, args: []string{"-stripe-api-base=http://flag"}, get: func(c config.Worker) any { return c.StripeAPIBase }, want: "http://flag"},
		{name: "flag -app-url", env: map[string]string{"APP_URL": "http://env"}, args: []string{"-app-url=http://flag"}, get: func(c config.Worker) any { return c.AppURL }, want: "http://flag"},
		{name: "flag -onboarding-reminder-after", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "1h"}, args: []string{"-onboarding-reminder-after=2h"}, get: func(c config.Worker) any { return c.ReminderAfter }, want: 2 * time.Hour},
		{name: "flag -onboarding-expire-after", env: map[string]string{"ONBOARDING_EXPIRE_AFTER": "96h"}, args: []string{"-onboarding-expire-after=100h"}, get: func(c config.Worker) any { return c.ExpireAfter }, want: 100 * time.Hour},
		{name: "flag -temporal-namespace", env: map[string]string{"TEMPORAL_NAMESPACE": "env"}, args: []string{"-temporal-namespace=flag"}, get: func(c config.Worker) any { return c.Temporal.Client.Namespace }, want: "flag"},
		{name: "env WORKER_TASK_QUEUE", env: map[string]string{"WORKER_TASK_QUEUE": "flowbridge-worker-0"}, get: func(c config.Worker) any { return c.WorkerTaskQueue }, want: "flowbridge-worker-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := with(workerKey, tt.env)
			c, err := config.LoadWorker(tt.args, envOf(env))
			require.NoError(t, err)
			got := tt.get(c)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestLoadBridgeInvalid(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr []string
	}{
		{name: "lanes 0", env: map[string]string{"BRIDGE_LANES": "0"}, wantErr: []string{"BRIDGE_LANES", "between 1 and 4096"}},
		{name: "in-flight cap 0", env: map[string]string{"INGRESS_MAX_IN_FLIGHT": "0"}, wantErr: []string{"INGRESS_MAX_IN_FLIGHT", "at least 1"}},
		{name: "lanes negative", env: map[string]string{"BRIDGE_LANES": "-3"}, wantErr: []string{"BRIDGE_LANES"}},
		{name: "lanes too many", env: map[string]string{"BRIDGE_LANES": "4097"}, wantErr: []string{"BRIDGE_LANES"}},
		{name: "lanes not a number", env: map[string]string{"BRIDGE_LANES": "many"}, wantErr: []string{"BRIDGE_LANES", `"many" is not a whole number`}},
		{name: "lanes flag 0", args: []string{"-lanes=0"}, wantErr: []string{"BRIDGE_LANES"}},
		{name: "bad signal wait", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "10 minutes"}, wantErr: []string{"BRIDGE_SIGNAL_WAIT", `"10 minutes" is not a duration`}},
		{name: "signal wait without unit", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "600"}, wantErr: []string{"BRIDGE_SIGNAL_WAIT", "is not a duration"}},
		{name: "zero signal wait", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "0s"}, wantErr: []string{"BRIDGE_SIGNAL_WAIT", "must be positive"}},
		{name: "negative signal wait", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "-1m"}, wantErr: []string{"BRIDGE_SIGNAL_WAIT", "must be positive"}},
		{name: "zero max retry age", env: map[string]string{"BRIDGE_MAX_RETRY_AGE": "0s"}, wantErr: []string{"BRIDGE_MAX_RETRY_AGE", "must be positive"}},
		{name: "bad max retry age", env: map[string]string{"BRIDGE_MAX_RETRY_AGE": "a day"}, wantErr: []string{"BRIDGE_MAX_RETRY_AGE", "is not a duration"}},
		{name: "negative max attempts", env: map[string]string{"BRIDGE_MAX_ATTEMPTS": "-1"}, wantErr: []string{"BRIDGE_MAX_ATTEMPTS", "must not be negative"}},
		{name: "bad ack wait", env: map[string]string{"BRIDGE_ACK_WAIT": "forever"}, wantErr: []string{"BRIDGE_ACK_WAIT", `"forever" is not a duration`}},
		{name: "ack wait under 1s", env: map[string]string{"BRIDGE_ACK_WAIT": "999ms"}, wantErr: []string{"BRIDGE_ACK_WAIT", "at least 1s"}},
		{name: "bad duplicate window", env: map[string]string{"EVENTS_DUPLICATE_WINDOW": "two minutes"}, wantErr: []string{"EVENTS_DUPLICATE_WINDOW", "is not a duration"}},
		{name: "duplicate window under 2m", env: map[string]string{"EVENTS_DUPLICATE_WINDOW": "1m59s"}, wantErr: []string{"EVENTS_DUPLICATE_WINDOW", "at least 2m"}},
		{name: "duplicate window flag under 2m", args: []string{"-duplicate-window=30s"}, wantErr: []string{"EVENTS_DUPLICATE_WINDOW", "at least 2m"}},
		{name: "no replicas", env: map[string]string{"EVENTS_REPLICAS": "0"}, wantErr: []string{"EVENTS_REPLICAS", "between 1 and 5"}},
		{name: "too many partitions", env: map[string]string{"EVENTS_PARTITIONS": "1000"}, wantErr: []string{"EVENTS_PARTITIONS", "between 0 (off) and 256"}},
		{name: "too many replicas", args: []string{"-events-replicas=7"}, wantErr: []string{"EVENTS_REPLICAS", "between 1 and 5"}},
		{name: "replicas not a number", env: map[string]string{"EVENTS_REPLICAS": "three"}, wantErr: []string{"EVENTS_REPLICAS", "not a whole number"}},
		{name: "unknown storage", env: map[string]string{"EVENTS_STORAGE": "disk"}, wantErr: []string{"EVENTS_STORAGE", `"disk" is not file or memory`}},
		{name: "DLQ max age shorter than the duplicate window", env: map[string]string{"DLQ_MAX_AGE": "5m"}, wantErr: []string{"DLQ_MAX_AGE", "at least EVENTS_DUPLICATE_WINDOW (10m0s)"}},
		{name: "negative DLQ max age", env: map[string]string{"DLQ_MAX_AGE": "-1h"}, wantErr: []string{"DLQ_MAX_AGE"}},
		{name: "bad DLQ max age", env: map[string]string{"DLQ_MAX_AGE": "a month"}, wantErr: []string{"DLQ_MAX_AGE", "is not a duration"}},
		{name: "DLQ max bytes under a message", env: map[string]string{"DLQ_MAX_BYTES": "1000"}, wantErr: []string{"DLQ_MAX_BYTES", "at least 1048576"}},
		{name: "DLQ max bytes with a unit", env: map[string]string{"DLQ_MAX_BYTES": "1GB"}, wantErr: []string{"DLQ_MAX_BYTES", `"1GB" is not a whole number of bytes`}},
		{name: "negative DLQ max bytes", args: []string{"-dlq-max-bytes=-1"}, wantErr: []string{"DLQ_MAX_BYTES"}},
		{name: "bad BRIDGE_PROVISION", env: map[string]string{"BRIDGE_PROVISION": "maybe"}, wantErr: []string{"BRIDGE_PROVISION", `"maybe" is not true or false`}},
		{name: "empty HTTP_ADDR flag", args: []string{"-http-addr="}, wantErr: []string{"HTTP_ADDR", "must not be empty"}},
		{name: "empty ADMIN_ADDR flag", args: []string{"-admin-addr="}, wantErr: []string{"ADMIN_ADDR", "must be set"}},
		{name: "ADMIN_ADDR on the public port", env: map[string]string{"HTTP_ADDR": "0.0.0.0:8080", "ADMIN_ADDR": "0.0.0.0:8080"}, wantErr: []string{"ADMIN_ADDR", "differ from HTTP_ADDR"}},
		// The Stripe webhook asks Stripe which PaymentIntent paid a subscription's invoice.
		{name: "Stripe webhook without an API key", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_1"}, wantErr: []string{"STRIPE_API_KEY", "must be set with STRIPE_WEBHOOK_SECRET"}},
		// A malformed variable is reported even when a flag sets the same setting: it is
		// still wrong, and would bite the next run without the flag.
		{name: "bad env under a good flag", env: map[string]string{"BRIDGE_SIGNAL_WAIT": "soon"}, args: []string{"-signal-wait=1m"}, wantErr: []string{"BRIDGE_SIGNAL_WAIT"}},
		{
			name:    "every problem is reported",
			env:     map[string]string{"BRIDGE_LANES": "0", "EVENTS_DUPLICATE_WINDOW": "1m", "LOG_LEVEL": "verbose", "TEMPORAL_ADDRESS": "temporal"},
			wantErr: []string{"BRIDGE_LANES", "EVENTS_DUPLICATE_WINDOW", "LOG_LEVEL", "TEMPORAL_ADDRESS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(tt.args, envOf(tt.env))
			requireInvalid(t, err, tt.wantErr...)
		})
	}
}

func TestLoadWorkerInvalid(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr []string
	}{
		{name: "no Stripe key", env: map[string]string{"STRIPE_API_KEY": ""}, wantErr: []string{"STRIPE_API_KEY", "must be set"}},
		{name: "expire equals reminder", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "24h", "ONBOARDING_EXPIRE_AFTER": "24h"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER", "longer than ONBOARDING_REMINDER_AFTER"}},
		{name: "expire before reminder", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "48h", "ONBOARDING_EXPIRE_AFTER": "24h"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER"}},
		{name: "reminder below the default expiry via flag", args: []string{"-onboarding-expire-after=12h"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER"}},
		{name: "zero reminder", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "0s"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER", "both positive"}},
		{name: "negative reminder", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "-1h"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER", "both positive"}},
		{name: "bad reminder duration", env: map[string]string{"ONBOARDING_REMINDER_AFTER": "a day"}, wantErr: []string{"ONBOARDING_REMINDER_AFTER", `"a day" is not a duration`}},
		{name: "bad expire duration", env: map[string]string{"ONBOARDING_EXPIRE_AFTER": "3d"}, wantErr: []string{"ONBOARDING_EXPIRE_AFTER", `"3d" is not a duration`}},
		{name: "SMTP_ADDR without port", env: map[string]string{"SMTP_ADDR": "mailpit"}, wantErr: []string{"SMTP_ADDR", "is not host:port"}},
		{name: "worker's own queue is the shared one", env: map[string]string{"WORKER_TASK_QUEUE": "flowbridge"}, wantErr: []string{"WORKER_TASK_QUEUE", "must differ from TEMPORAL_TASK_QUEUE"}},
		{
			name:    "every problem is reported",
			env:     map[string]string{"STRIPE_API_KEY": "", "SMTP_ADDR": "mailpit", "LOG_FORMAT": "text"},
			wantErr: []string{"STRIPE_API_KEY", "SMTP_ADDR", "LOG_FORMAT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadWorker(tt.args, envOf(with(workerKey, tt.env)))
			requireInvalid(t, err, tt.wantErr...)
		})
	}
}

// Flag syntax errors come from the flag package: they name the flag, and Load stops there.
func TestLoadBadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown flag", args: []string{"-no-such-flag"}, wantErr: "no-such-flag"},
		{name: "lanes not a number", args: []string{"-lanes=many"}, wantErr: "-lanes"},
		{name: "duration without unit", args: []string{"-signal-wait=10"}, wantErr: "-signal-wait"},
		// `bridge version` once started a bridge: flag parsing stops at the first
		// non-flag, and the rest was ignored.
		{name: "a word", args: []string{"version"}, wantErr: `bridge takes flags only, got the argument "version"`},
		{name: "a word after flags", args: []string{"-lanes=2", "now"}, wantErr: `got the argument "now"`},
		{name: "a word after --", args: []string{"--", "now"}, wantErr: `got the argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(tt.args, envOf(nil))
			require.Error(t, err)
			require.True(t, errors.Is(err, config.ErrUsage), "got %v, want it to wrap ErrUsage", err)
			require.Equal(t, config.ExitUsage, config.ExitCode(err))
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// `bridge setup` takes the bridge's settings and -dry-run, which the bridge itself does not.
func TestLoadSetup(t *testing.T) {
	got, err := config.LoadSetup([]string{"-dry-run", "-events-replicas=3"}, envOf(map[string]string{"DLQ_MAX_AGE": "720h"}))
	require.NoError(t, err)
	require.True(t, got.DryRun, "-dry-run: got %v, want true", got.DryRun)
	require.Equal(t, 3, got.Streams.Replicas)
	require.Equal(t, 720*time.Hour, got.Streams.DLQMaxAge)

	got, err = config.LoadSetup(nil, envOf(nil))
	require.NoError(t, err)
	require.False(t, got.DryRun, "no -dry-run: got %v, want false", got.DryRun)

	_, err = config.LoadBridge([]string{"-dry-run"}, envOf(nil))
	require.ErrorIs(t, err, config.ErrUsage, "the bridge takes no -dry-run: got %v", err)
	_, err = config.LoadSetup([]string{"now"}, envOf(nil))
	require.ErrorIs(t, err, config.ErrUsage)
	require.ErrorContains(t, err, `bridge setup takes flags only, got the argument "now"`)
}
