package config

import (
	"fmt"
	"strings"
	"testing"

	flag "github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// The NATS password and token, and credentials in NATS_URL, are never printed: not in
// -h, not when the configuration is formatted.
func TestNATSSecretsAreNeverShown(t *testing.T) {
	env := map[string]string{
		"NATS_URL":      "nats://alice:url-s3cret@n1:4222",
		"NATS_USER":     "alice",
		"NATS_PASSWORD": "pw-s3cret",
		"NATS_TOKEN":    "token-s3cret",
	}
	var out strings.Builder
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	fs.SetOutput(&out)
	var n NATS
	n.AddFlags(fs, func(k string) string { return env[k] })
	fs.PrintDefaults()
	require.Contains(t, out.String(), "-nats-password")
	require.Contains(t, out.String(), "n1:4222", "the URL's host is shown")

	c := Bridge{Common: Common{NATS: n}}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.NATS), fmt.Sprint(c.NATS)} {
		out.WriteString(s)
	}
	for _, secret := range []string{"url-s3cret", "pw-s3cret", "token-s3cret"} {
		require.NotContains(t, out.String(), secret)
	}
	require.Equal(t, "pw-s3cret", n.Password, "the value itself is kept")
}
