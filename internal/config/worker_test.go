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
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

// caFile writes a self-signed CA certificate as PEM and returns its path.
func caFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

func TestLoadWorkerSMTPAndStopSettings(t *testing.T) {
	ca := caFile(t)
	passwordFile := filepath.Join(t.TempDir(), "smtp-password")
	require.NoError(t, os.WriteFile(passwordFile, []byte("from-a-file\n"), 0o600))
	auth := map[string]string{"SMTP_USERNAME": "apikey", "SMTP_PASSWORD": "pw"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		get  func(config.Worker) any
		want any
	}{
		{name: "env SMTP_TLS", env: map[string]string{"SMTP_TLS": "tls"}, get: func(c config.Worker) any { return c.SMTPTLS }, want: "tls"},
		{name: "flag -smtp-tls", env: map[string]string{"SMTP_TLS": "tls"}, args: []string{"-smtp-tls=none"}, get: func(c config.Worker) any { return c.SMTPTLS }, want: "none"},
		{name: "env SMTP_TLS_CA", env: map[string]string{"SMTP_TLS_CA": ca}, get: func(c config.Worker) any { return c.SMTPTLSCA }, want: ca},
		{name: "env SMTP_USERNAME", env: auth, get: func(c config.Worker) any { return c.SMTPUsername }, want: "apikey"},
		{name: "env SMTP_PASSWORD", env: auth, get: func(c config.Worker) any { return c.SMTPPassword }, want: "pw"},
		{name: "SMTP_PASSWORD_FILE, its newline trimmed", env: map[string]string{"SMTP_USERNAME": "u", "SMTP_PASSWORD_FILE": passwordFile}, get: func(c config.Worker) any { return c.SMTPPassword }, want: "from-a-file"},
		{name: "flag -smtp-password", env: auth, args: []string{"-smtp-password=flag"}, get: func(c config.Worker) any { return c.SMTPPassword }, want: "flag"},
		{name: "env SMTP_AUTH", env: map[string]string{"SMTP_AUTH": "cram-md5"}, get: func(c config.Worker) any { return c.SMTPAuth }, want: "cram-md5"},
		{name: "flag -smtp-auth", args: []string{"-smtp-auth=login"}, get: func(c config.Worker) any { return c.SMTPAuth }, want: "login"},
		{name: "AUTH in clear text to loopback", env: with(auth, map[string]string{"SMTP_TLS": "none", "SMTP_ADDR": "127.0.0.1:1025"}), get: func(c config.Worker) any { return c.SMTPTLS }, want: "none"},
		{name: "AUTH in clear text to localhost", env: with(auth, map[string]string{"SMTP_TLS": "none", "SMTP_ADDR": "localhost:1025"}), get: func(c config.Worker) any { return c.SMTPTLS }, want: "none"},
		{name: "AUTH in clear text, allowed", env: with(auth, map[string]string{"SMTP_TLS": "none", "SMTP_ADDR": "relay.internal:25", "SMTP_AUTH_ALLOW_INSECURE": "true"}), get: func(c config.Worker) any { return c.SMTPAuthAllowInsecure }, want: true},
		{name: "env WORKER_STOP_TIMEOUT", env: map[string]string{"WORKER_STOP_TIMEOUT": "2m"}, get: func(c config.Worker) any { return c.StopTimeout }, want: 2 * time.Minute},
		{name: "flag -stop-timeout", env: map[string]string{"WORKER_STOP_TIMEOUT": "2m"}, args: []string{"-stop-timeout=0s"}, get: func(c config.Worker) any { return c.StopTimeout }, want: time.Duration(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadWorker(tt.args, envOf(with(workerKey, tt.env)))
			require.NoError(t, err)
			got := tt.get(c)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestLoadWorkerSMTPAndStopInvalid(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	passwordFile := filepath.Join(t.TempDir(), "smtp-password")
	require.NoError(t, os.WriteFile(passwordFile, []byte("hunter2"), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "unknown SMTP_TLS", env: map[string]string{"SMTP_TLS": "ssl"}, wantErr: []string{"SMTP_TLS", `"ssl" is not starttls, tls or none`}},
		{name: "unknown SMTP_AUTH", env: map[string]string{"SMTP_AUTH": "xoauth2"}, wantErr: []string{"SMTP_AUTH", `"xoauth2" is not auto, plain, login or cram-md5`}},
		{name: "a user without a password", env: map[string]string{"SMTP_USERNAME": "u"}, wantErr: []string{"SMTP_PASSWORD", "must be set with SMTP_USERNAME"}},
		{name: "a password without a user", env: map[string]string{"SMTP_PASSWORD": "hunter2"}, wantErr: []string{"SMTP_USERNAME", "must be set with SMTP_PASSWORD"}},
		{name: "AUTH in clear text over the network", env: map[string]string{"SMTP_TLS": "none", "SMTP_ADDR": "smtp.example.com:25", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2"},
			wantErr: []string{"SMTP_TLS", "smtp.example.com in clear text", "SMTP_AUTH_ALLOW_INSECURE=true"}},
		{name: "password and its file", env: map[string]string{"SMTP_USERNAME": "u", "SMTP_PASSWORD": "hunter2", "SMTP_PASSWORD_FILE": passwordFile},
			wantErr: []string{"SMTP_PASSWORD and SMTP_PASSWORD_FILE are both set"}},
		{name: "missing password file", env: map[string]string{"SMTP_USERNAME": "u", "SMTP_PASSWORD_FILE": passwordFile + ".missing"}, wantErr: []string{"SMTP_PASSWORD_FILE", "cannot be read"}},
		{name: "missing CA file", env: map[string]string{"SMTP_TLS_CA": notPEM + ".missing"}, wantErr: []string{"SMTP_TLS_CA", "cannot be read"}},
		{name: "CA file without a certificate", env: map[string]string{"SMTP_TLS_CA": notPEM}, wantErr: []string{"SMTP_TLS_CA", "holds no PEM certificate"}},
		{name: "CA file without TLS", env: map[string]string{"SMTP_TLS_CA": caFile(t), "SMTP_TLS": "none"}, wantErr: []string{"SMTP_TLS_CA", "SMTP_TLS is none"}},
		{name: "negative stop timeout", env: map[string]string{"WORKER_STOP_TIMEOUT": "-1s"}, wantErr: []string{"WORKER_STOP_TIMEOUT", "must not be negative"}},
		{name: "stop timeout without unit", env: map[string]string{"WORKER_STOP_TIMEOUT": "30"}, wantErr: []string{"WORKER_STOP_TIMEOUT", "is not a duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadWorker(nil, envOf(with(workerKey, tt.env)))
			requireInvalid(t, err, tt.wantErr...)
			require.NotContains(t, err.Error(), "hunter2", "an error never shows the password")
		})
	}
}

func TestLoadMigrate(t *testing.T) {
	c, err := config.LoadMigrate(nil, envOf(map[string]string{"DATABASE_URL": "postgres://u:p@db:5432/fb", "STRIPE_API_KEY": ""}))
	require.NoError(t, err, "migrate needs DATABASE_URL only")
	require.Equal(t, "postgres://u:p@db:5432/fb", c.DatabaseURL)
	c, err = config.LoadMigrate([]string{"-database-url=postgres://flag/fb"}, envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "postgres://flag/fb", c.DatabaseURL)
	_, err = config.LoadMigrate(nil, envOf(map[string]string{"DATABASE_URL": "mysql://db/fb"}))
	requireInvalid(t, err, "DATABASE_URL", "postgres://")
	_, err = config.LoadMigrate([]string{"now"}, envOf(nil))
	require.ErrorIs(t, err, config.ErrUsage)
	require.ErrorContains(t, err, `worker migrate takes flags only, got the argument "now"`)
}
