package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/flowbridge/flowbridge/internal/config"
)

// TestMain points the temporal CLI's default config file (~/.config/temporalio/
// temporal.toml) at an empty directory, so that no test reads the profiles of the
// machine it runs on.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "config-test-home")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
	return p
}

// certFiles writes a self-signed certificate and its key, PEM, and returns their paths.
func certFiles(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowbridge-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return writeFile(t, dir, "client.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		writeFile(t, dir, "client.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
}

const testProfiles = `
[profile.default]
address = "default.example:7233"
namespace = "default-ns"

[profile.cloud]
address = "acme.a1b2c.tmprl.cloud:7233"
namespace = "acme.a1b2c"
api_key = "profile-key-s3cret"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "prod"
[profile.mtls.tls]
server_name = "temporal.internal"

[profile.plain]
address = "127.0.0.1:7243"
[profile.plain.tls]
disabled = true
`

// Where each Temporal setting comes from: a flag over the environment over the profile
// over the default, as in the temporal CLI.
func TestTemporalSettingsSources(t *testing.T) {
	dir := t.TempDir()
	profiles := writeFile(t, dir, "temporal.toml", testProfiles)
	keyFile := writeFile(t, dir, "api-key", "file-key-s3cret\n")
	cert, key := certFiles(t, dir)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want envconfig.ClientConfigProfile
		tls  bool
	}{
		{name: "defaults", want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default"}},
		{name: "the default profile of TEMPORAL_CONFIG_FILE", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles},
			want: envconfig.ClientConfigProfile{Address: "default.example:7233", Namespace: "default-ns"}},
		{name: "TEMPORAL_PROFILE", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "cloud"},
			want: envconfig.ClientConfigProfile{Address: "acme.a1b2c.tmprl.cloud:7233", Namespace: "acme.a1b2c", APIKey: "profile-key-s3cret"}, tls: true},
		{name: "flags -temporal-profile and -temporal-config-file", args: []string{"-temporal-config-file", profiles, "-temporal-profile=cloud"},
			want: envconfig.ClientConfigProfile{Address: "acme.a1b2c.tmprl.cloud:7233", Namespace: "acme.a1b2c", APIKey: "profile-key-s3cret"}, tls: true},
		{name: "the environment over the profile", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_NAMESPACE": "acme.other", "TEMPORAL_API_KEY": "env-key"},
			want: envconfig.ClientConfigProfile{Address: "acme.a1b2c.tmprl.cloud:7233", Namespace: "acme.other", APIKey: "env-key"}, tls: true},
		{name: "a flag over the environment", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_ADDRESS": "env:7233"},
			args: []string{"-temporal-address=flag:7233", "-temporal-api-key=flag-key"},
			want: envconfig.ClientConfigProfile{Address: "flag:7233", Namespace: "acme.a1b2c", APIKey: "flag-key"}, tls: true},
		{name: "TEMPORAL_API_KEY_FILE", env: map[string]string{"TEMPORAL_API_KEY_FILE": keyFile},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default", APIKey: "file-key-s3cret"}, tls: true},
		{name: "an API key without TLS", env: map[string]string{"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default", APIKey: "k", TLS: &envconfig.ClientConfigTLS{Disabled: true}}},
		{name: "the profile's TLS turned off by a flag", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "mtls"}, args: []string{"-temporal-tls=false"},
			want: envconfig.ClientConfigProfile{Address: "temporal.internal:7233", Namespace: "prod", TLS: &envconfig.ClientConfigTLS{Disabled: true, ServerName: "temporal.internal"}}},
		{name: "a profile without TLS", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "plain"},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7243", Namespace: "default", TLS: &envconfig.ClientConfigTLS{Disabled: true}}},
		{name: "mTLS from the environment", env: map[string]string{
			"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": key,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": cert, "TEMPORAL_TLS_SERVER_NAME": "frontend.internal"},
			want: envconfig.ClientConfigProfile{Address: "temporal.internal:7233", Namespace: "default", TLS: &envconfig.ClientConfigTLS{
				ClientCertPath: cert, ClientKeyPath: key, ServerCACertPath: cert, ServerName: "frontend.internal"}}, tls: true},
		{name: "mTLS from flags", args: []string{"-temporal-tls-client-cert-path", cert, "-temporal-tls-client-key-path", key, "-temporal-tls-disable-host-verification"},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default", TLS: &envconfig.ClientConfigTLS{
				ClientCertPath: cert, ClientKeyPath: key, DisableHostVerification: true}}, tls: true},
		{name: "TEMPORAL_TLS alone", env: map[string]string{"TEMPORAL_TLS": "true"},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default", TLS: &envconfig.ClientConfigTLS{}}, tls: true},
		{name: "a codec server", env: map[string]string{"TEMPORAL_CODEC_ENDPOINT": "https://codec.internal", "TEMPORAL_CODEC_AUTH_FILE": keyFile},
			want: envconfig.ClientConfigProfile{Address: "127.0.0.1:7233", Namespace: "default", Codec: &envconfig.ClientConfigCodec{Endpoint: "https://codec.internal", Auth: "file-key-s3cret"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("bridge", func(t *testing.T) {
				c, err := config.LoadBridge(tt.args, envOf(tt.env))
				require.NoError(t, err)
				require.Equal(t, tt.want, c.Temporal.Client, "got %+v, want %+v", c.Temporal.Client, tt.want)
				require.Equal(t, tt.tls, config.TemporalTLS(c.Temporal.Client), "TLS: got %v, want %v", config.TemporalTLS(c.Temporal.Client), tt.tls)
			})
			t.Run("worker", func(t *testing.T) {
				c, err := config.LoadWorker(tt.args, envOf(with(workerKey, tt.env)))
				require.NoError(t, err)
				require.Equal(t, tt.want, c.Temporal.Client, "got %+v, want %+v", c.Temporal.Client, tt.want)
			})
		})
	}
}

// A Temporal setting that cannot work fails the load with an error naming it, and no
// error shows a secret.
func TestTemporalSettingsAreValidated(t *testing.T) {
	dir := t.TempDir()
	profiles := writeFile(t, dir, "temporal.toml", testProfiles)
	broken := writeFile(t, dir, "broken.toml", "[profile.cloud]\napi_key = \"toml-s3cret\nnamespace = 1\n")
	cert, key := certFiles(t, dir)
	notPEM := writeFile(t, dir, "not.pem", "not a certificate")
	keyFile := writeFile(t, dir, "api-key", "file-key-s3cret\n")
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr []string
	}{
		{name: "a profile the file has not", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod"},
			wantErr: []string{"TEMPORAL_PROFILE", `"prod" is not a profile of`, "cloud, default, mtls, plain"}},
		{name: "a profile without a file", env: map[string]string{"TEMPORAL_PROFILE": "prod"}, wantErr: []string{"TEMPORAL_PROFILE", "there is no temporal.toml at", "set TEMPORAL_CONFIG_FILE"}},
		{name: "a profile flag the file has not", env: map[string]string{"TEMPORAL_CONFIG_FILE": profiles}, args: []string{"-temporal-profile=nope"}, wantErr: []string{"TEMPORAL_PROFILE", `"nope"`}},
		{name: "a config file that does not exist", env: map[string]string{"TEMPORAL_CONFIG_FILE": missing}, wantErr: []string{"TEMPORAL_CONFIG_FILE", "cannot be read"}},
		{name: "a config file that is not TOML", env: map[string]string{"TEMPORAL_CONFIG_FILE": broken}, wantErr: []string{"TEMPORAL_CONFIG_FILE", "is not valid TOML"}},
		{name: "a certificate without its key", env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert}, wantErr: []string{"TEMPORAL_TLS_CLIENT_KEY_PATH must be set with TEMPORAL_TLS_CLIENT_CERT_PATH"}},
		{name: "a key without its certificate", env: map[string]string{"TEMPORAL_TLS_CLIENT_KEY_PATH": key}, wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH must be set with TEMPORAL_TLS_CLIENT_KEY_PATH"}},
		{name: "a missing certificate file", env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": missing, "TEMPORAL_TLS_CLIENT_KEY_PATH": key},
			wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH are not a PEM certificate and its key", "missing.pem"}},
		{name: "a key that is not PEM", env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": notPEM},
			wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH are not"}},
		{name: "a missing CA file", env: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": missing}, wantErr: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "cannot be read"}},
		{name: "a CA file without certificates", args: []string{"-temporal-tls-server-ca-cert-path", notPEM}, wantErr: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "holds no PEM certificate"}},
		{name: "TEMPORAL_TLS not a boolean", env: map[string]string{"TEMPORAL_TLS": "yes", "TEMPORAL_API_KEY": "env-s3cret"}, wantErr: []string{"TEMPORAL_TLS", `"yes" is not true or false`}},
		{name: "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION not a boolean", env: map[string]string{"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "off"}, wantErr: []string{"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"}},
		{name: "TEMPORAL_API_KEY and its file", env: map[string]string{"TEMPORAL_API_KEY": "env-s3cret", "TEMPORAL_API_KEY_FILE": keyFile}, wantErr: []string{"TEMPORAL_API_KEY and TEMPORAL_API_KEY_FILE are both set"}},
		{name: "an unreadable TEMPORAL_API_KEY_FILE", env: map[string]string{"TEMPORAL_API_KEY_FILE": missing}, wantErr: []string{"TEMPORAL_API_KEY_FILE cannot be read"}},
		{name: "TEMPORAL_CODEC_AUTH and its file", env: map[string]string{"TEMPORAL_CODEC_AUTH": "env-s3cret", "TEMPORAL_CODEC_AUTH_FILE": keyFile}, wantErr: []string{"TEMPORAL_CODEC_AUTH and TEMPORAL_CODEC_AUTH_FILE are both set"}},
		{name: "a codec endpoint that is no URL", env: map[string]string{"TEMPORAL_CODEC_ENDPOINT": "codec.internal:8080"}, wantErr: []string{"TEMPORAL_CODEC_ENDPOINT", "http:// or https://"}},
		{name: "a profile address without port", env: map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, dir, "noport.toml", "[profile.default]\naddress = \"temporal.internal\"\n")},
			wantErr: []string{"TEMPORAL_ADDRESS", "is not host:port (the address of profile \"default\")"}},
		{name: "an empty address flag", args: []string{"-temporal-address="}, wantErr: []string{"TEMPORAL_ADDRESS must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(tt.args, envOf(tt.env))
			requireInvalid(t, err, tt.wantErr...)
			for _, s := range []string{"s3cret", "profile-key"} {
				require.NotContains(t, err.Error(), s, "an error shows a secret")
			}
		})
	}
}

// Every secret may be given as a file (NAME_FILE, Kubernetes and Docker secrets), but not
// both ways at once.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(v string) string {
		n++
		return writeFile(t, dir, "secret-"+strconv.Itoa(n), v+"\n")
	}
	bridge := []struct {
		name string
		val  string
		get  func(config.Bridge) any
		want any
	}{
		{name: "STRIPE_WEBHOOK_SECRET", val: "whsec_new,whsec_old", get: func(c config.Bridge) any { return c.StripeWebhookSecrets }, want: []string{"whsec_new", "whsec_old"}},
		{name: "GITHUB_WEBHOOK_SECRET", val: "gh-s3cret", get: func(c config.Bridge) any { return c.GitHubWebhookSecrets }, want: []string{"gh-s3cret"}},
		{name: "STRIPE_API_KEY", val: "rk_live_s3cret", get: func(c config.Bridge) any { return c.StripeAPIKey }, want: "rk_live_s3cret"},
		{name: "DATABASE_URL", val: "postgres://app:s3cret@db:5432/fb", get: func(c config.Bridge) any { return c.DatabaseURL }, want: "postgres://app:s3cret@db:5432/fb"},
		{name: "TEMPORAL_API_KEY", val: "tk-s3cret", get: func(c config.Bridge) any { return c.Temporal.Client.APIKey }, want: "tk-s3cret"},
	}
	for _, tt := range bridge {
		t.Run("bridge "+tt.name, func(t *testing.T) {
			env := map[string]string{tt.name + "_FILE": file(tt.val), "STRIPE_API_KEY": "sk_test_1"}
			if tt.name == "STRIPE_API_KEY" {
				delete(env, "STRIPE_API_KEY")
			}
			c, err := config.LoadBridge(nil, envOf(env))
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.get(c), "got %v, want %v", tt.get(c), tt.want)

			_, err = config.LoadBridge(nil, envOf(with(env, map[string]string{tt.name: tt.val})))
			requireInvalid(t, err, tt.name+" and "+tt.name+"_FILE are both set")
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
	worker := []struct {
		name string
		get  func(config.Worker) string
	}{
		{name: "STRIPE_API_KEY", get: func(c config.Worker) string { return c.StripeAPIKey }},
		{name: "DATABASE_URL", get: func(c config.Worker) string { return c.DatabaseURL }},
	}
	for _, tt := range worker {
		t.Run("worker "+tt.name, func(t *testing.T) {
			val := "postgres://app:s3cret@db:5432/fb"
			env := map[string]string{tt.name + "_FILE": file(val), "STRIPE_API_KEY": "sk_test_1"}
			if tt.name == "STRIPE_API_KEY" {
				delete(env, "STRIPE_API_KEY")
			}
			c, err := config.LoadWorker(nil, envOf(env))
			require.NoError(t, err)
			require.Equal(t, val, tt.get(c))

			_, err = config.LoadWorker(nil, envOf(with(env, map[string]string{tt.name: val})))
			requireInvalid(t, err, tt.name+" and "+tt.name+"_FILE are both set")
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
	t.Run("an unreadable file", func(t *testing.T) {
		_, err := config.LoadWorker(nil, envOf(with(workerKey, map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "missing")})))
		requireInvalid(t, err, "DATABASE_URL_FILE cannot be read")
	})
}
