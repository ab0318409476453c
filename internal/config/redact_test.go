package config

import (
	"strings"
	"testing"

	flag "github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestSecretFlagsAreRedactedInUsage(t *testing.T) {
	var out strings.Builder
	env := func(k string) string {
		return map[string]string{"DATABASE_URL": "postgres://app:hunter2@db:5432/flowbridge", "STRIPE_API_KEY": "sk_live_secret",
			"TEMPORAL_API_KEY": "temporal-key-secret", "TEMPORAL_CODEC_AUTH": "Bearer codec-secret"}[k]
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(&out)
	var c Worker
	c.Common.register(fs, env)
	c.StripeAPIKey = env("STRIPE_API_KEY")
	fs.Var(secret{&c.StripeAPIKey, redactAll}, "stripe-api-key", "Stripe secret key")
	fs.PrintDefaults()
	require.NotContains(t, out.String(), "hunter2")
	require.NotContains(t, out.String(), "sk_live_secret")
	require.NotContains(t, out.String(), "temporal-key-secret")
	require.NotContains(t, out.String(), "codec-secret")
	require.Contains(t, out.String(), "-temporal-api-key", "the flag is listed")
	require.Equal(t, "postgres://app:hunter2@db:5432/flowbridge", c.DatabaseURL, "the value itself is kept")
}

func TestSMTPPasswordIsRedactedInUsage(t *testing.T) {
	var out strings.Builder
	env := func(k string) string { return map[string]string{"SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2"}[k] }
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(&out)
	var c Worker
	var errs []error
	c.registerSMTP(fs, env, &errs)
	fs.PrintDefaults()
	require.Contains(t, out.String(), "-smtp-password")
	require.NotContains(t, out.String(), "hunter2")
	require.Equal(t, "hunter2", c.SMTPPassword, "the value itself is kept")
}

func TestRedactURLs(t *testing.T) {
	got := RedactURLs("nats://alice:s3cret@n1:4222, nats://tok3n@n2:4222,nats://n3:4222")
	for _, secret := range []string{"alice", "s3cret", "tok3n"} {
		if strings.Contains(got, secret) {
			t.Fatalf("got %q, which shows %q", got, secret)
		}
	}
	if !strings.Contains(got, "n1:4222") || !strings.Contains(got, "nats://n3:4222") {
		t.Fatalf("got %q, want the hosts kept", got)
	}
}
