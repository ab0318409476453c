package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// natsFiles are real credential and certificate files, made once per test.
type natsFiles struct {
	creds, otherCreds, seed, ca, cert, key, otherKey, notPEM string
}

func newNATSFiles(t *testing.T) natsFiles {
	t.Helper()
	dir := t.TempDir()
	ca := testenv.NewTestCA(t, "config test CA")
	cert, key := ca.Issue(t, dir, "client", false)
	_, otherKey := ca.Issue(t, dir, "other", false)
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	return natsFiles{
		creds:      testenv.NATSCreds(t).Env["NATS_CREDS"],
		otherCreds: testenv.NATSCreds(t).Env["NATS_CREDS"],
		seed:       testenv.NATSNKey(t).Env["NATS_NKEY"],
		ca:         ca.WriteCA(t, dir, "ca.pem"),
		cert:       cert, key: key, otherKey: otherKey, notPEM: notPEM,
	}
}

// expiredCreds writes a credentials file whose user JWT expired an hour ago.
func expiredCreds(t *testing.T) string {
	t.Helper()
	account, err := nkeys.CreateAccount()
	require.NoError(t, err)
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := user.PublicKey()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(pub)
	uc.Expires = time.Now().Add(-time.Hour).Unix()
	token, err := uc.Encode(account)
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(token, seed)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "expired.creds")
	require.NoError(t, os.WriteFile(path, creds, 0o600))
	return path
}

// Each NATS setting is read from its variable and its flag (the flag wins), by the
// bridge and the worker alike; secrets also from <NAME>_FILE.
func TestNATSSettings(t *testing.T) {
	f := newNATSFiles(t)
	dir := t.TempDir()
	pwFile, tokenFile := filepath.Join(dir, "pw"), filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(pwFile, []byte("pw-from-file\n"), 0o600))
	require.NoError(t, os.WriteFile(tokenFile, []byte("token-from-file\r\n"), 0o600))
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want config.NATS
	}{
		{name: "nothing set", want: config.NATS{URL: config.DefaultNATSURL}},
		{
			name: "user and password",
			env:  map[string]string{"NATS_URL": "nats://n1:4222,nats://n2:4222", "NATS_USER": "bridge", "NATS_PASSWORD": "s3cret"},
			want: config.NATS{URL: "nats://n1:4222,nats://n2:4222", User: "bridge", Password: "s3cret"},
		},
		{name: "password from a file", env: map[string]string{"NATS_USER": "bridge", "NATS_PASSWORD_FILE": pwFile}, want: config.NATS{URL: config.DefaultNATSURL, User: "bridge", Password: "pw-from-file"}},
		{name: "token", env: map[string]string{"NATS_TOKEN": "t0ken"}, want: config.NATS{URL: config.DefaultNATSURL, Token: "t0ken"}},
		{name: "token from a file", env: map[string]string{"NATS_TOKEN_FILE": tokenFile}, want: config.NATS{URL: config.DefaultNATSURL, Token: "token-from-file"}},
		{name: "the token flag wins over the file", env: map[string]string{"NATS_TOKEN_FILE": tokenFile}, args: []string{"-nats-token", "flag-token"}, want: config.NATS{URL: config.DefaultNATSURL, Token: "flag-token"}},
		{name: "creds and TLS", env: map[string]string{"NATS_CREDS": f.creds, "NATS_CA": f.ca, "NATS_CERT": f.cert, "NATS_KEY": f.key},
			want: config.NATS{URL: config.DefaultNATSURL, Creds: f.creds, CA: f.ca, Cert: f.cert, Key: f.key}},
		{name: "nkey", env: map[string]string{"NATS_NKEY": f.seed}, want: config.NATS{URL: config.DefaultNATSURL, NKey: f.seed}},
		{
			name: "flags win over the environment",
			env:  map[string]string{"NATS_URL": "nats://env:4222", "NATS_CREDS": f.otherCreds},
			args: []string{"-nats-url", "tls://flag:4222", "-nats-creds", f.creds, "-nats-ca", f.ca, "-nats-cert", f.cert, "-nats-key", f.key},
			want: config.NATS{URL: "tls://flag:4222", Creds: f.creds, CA: f.ca, Cert: f.cert, Key: f.key},
		},
		{name: "user and password flags", args: []string{"-nats-user", "u", "-nats-password", "p"}, want: config.NATS{URL: config.DefaultNATSURL, User: "u", Password: "p"}},
		{name: "nkey flag", args: []string{"-nats-nkey", f.seed}, want: config.NATS{URL: config.DefaultNATSURL, NKey: f.seed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := config.LoadBridge(tt.args, envOf(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.want, b.NATS, "bridge: got %v, want %v", b.NATS, tt.want)
			w, err := config.LoadWorker(tt.args, envOf(with(workerKey, tt.env)))
			require.NoError(t, err)
			require.Equal(t, tt.want, w.NATS, "worker: got %v, want %v", w.NATS, tt.want)
		})
	}
}

// Bad NATS settings stop the process at start-up with an error naming the setting and
// showing no secret.
func TestNATSSettingsAreValidated(t *testing.T) {
	f := newNATSFiles(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte("pw-in-file"), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr []string
	}{
		{name: "user without password", env: map[string]string{"NATS_USER": "bridge"}, wantErr: []string{"NATS_USER is set without NATS_PASSWORD"}},
		{name: "password without user", env: map[string]string{"NATS_PASSWORD": "s3cret"}, wantErr: []string{"NATS_PASSWORD is set without NATS_USER"}},
		{name: "password and its file", env: map[string]string{"NATS_USER": "u", "NATS_PASSWORD": "s3cret", "NATS_PASSWORD_FILE": pwFile}, wantErr: []string{"NATS_PASSWORD and NATS_PASSWORD_FILE are both set"}},
		{name: "unreadable token file", env: map[string]string{"NATS_TOKEN_FILE": filepath.Join(dir, "none")}, wantErr: []string{"NATS_TOKEN_FILE cannot be read"}},
		{name: "two credentials", env: map[string]string{"NATS_USER": "u", "NATS_PASSWORD": "s3cret", "NATS_TOKEN": "t0ken", "NATS_CREDS": f.creds},
			wantErr: []string{"NATS_USER/NATS_PASSWORD and NATS_TOKEN and NATS_CREDS are all set: a connection uses one credential"}},
		{name: "missing creds file", env: map[string]string{"NATS_CREDS": filepath.Join(dir, "none.creds")}, wantErr: []string{"NATS_CREDS cannot be read"}},
		{name: "creds file that is not one", env: map[string]string{"NATS_CREDS": f.seed}, wantErr: []string{"NATS_CREDS", f.seed, "holds no valid user JWT"}},
		{name: "expired creds", env: map[string]string{"NATS_CREDS": expiredCreds(t)}, wantErr: []string{"NATS_CREDS", "expired at"}},
		{name: "nkey file without a seed", env: map[string]string{"NATS_NKEY": f.ca}, wantErr: []string{"NATS_NKEY", "holds no user nkey seed"}},
		{name: "CA that is not PEM", env: map[string]string{"NATS_CA": f.notPEM}, wantErr: []string{"NATS_CA", "holds no PEM certificate"}},
		{name: "certificate without key", env: map[string]string{"NATS_CERT": f.cert}, wantErr: []string{"NATS_CERT is set without NATS_KEY"}},
		{name: "key without certificate", args: []string{"-nats-key", f.key}, wantErr: []string{"NATS_KEY is set without NATS_CERT"}},
		{name: "key of another certificate", env: map[string]string{"NATS_CERT": f.cert, "NATS_KEY": f.otherKey}, wantErr: []string{"NATS_CERT", "are not a certificate and its private key"}},
		{name: "empty URL flag", args: []string{"-nats-url="}, wantErr: []string{"NATS_URL must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, load := range map[string]func() error{
				"bridge": func() error { _, err := config.LoadBridge(tt.args, envOf(tt.env)); return err },
				"worker": func() error { _, err := config.LoadWorker(tt.args, envOf(with(workerKey, tt.env))); return err },
			} {
				err := load()
				requireInvalid(t, err, tt.wantErr...)
				for _, secret := range []string{"s3cret", "t0ken", "pw-in-file"} {
					require.NotContains(t, err.Error(), secret, "%s: the error shows a secret", name)
				}
			}
		})
	}
}

// writeContext writes a nats context as the nats CLI stores it, under the config dir root.
func writeContext(t *testing.T, root, name string, fields map[string]any) string {
	t.Helper()
	dir := filepath.Join(root, "nats", "context")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	b, err := json.Marshal(fields)
	require.NoError(t, err)
	path := filepath.Join(dir, name+".json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// NATS_CONTEXT selects a nats context: its values fill the settings left unset; the
// environment and flags override them; the context `nats context select` chose is not
// used unless named.
func TestNATSContext(t *testing.T) {
	f := newNATSFiles(t)
	xdg, home := t.TempDir(), t.TempDir()
	writeContext(t, xdg, "prod", map[string]any{
		"description": "production", "url": "tls://nats.prod:4222", "user": "bridge", "password": "ctx-s3cret",
		"ca": f.ca, "cert": f.cert, "key": f.key, "tls_first": true, "inbox_prefix": "_INBOX_bridge",
		"jetstream_event_prefix": "ignored", "color_scheme": "ignored",
	})
	writeContext(t, xdg, "viacreds", map[string]any{"url": "nats://ngs:4222", "creds": "file://" + f.creds})
	require.NoError(t, os.WriteFile(filepath.Join(home, "token"), []byte("ctx-token\n"), 0o600))
	writeContext(t, filepath.Join(home, ".config"), "home", map[string]any{"token": "file://~/token", "ca": "$CERTS/" + filepath.Base(f.ca)})
	writeContext(t, xdg, "envtoken", map[string]any{"token": "env://CTX_TOKEN"})
	byPath := writeContext(t, t.TempDir(), "elsewhere", map[string]any{"url": "nats://elsewhere:4222"})
	require.NoError(t, os.WriteFile(filepath.Join(xdg, "nats", "context.txt"), []byte("prod"), 0o600))

	prod := config.NATS{URL: "tls://nats.prod:4222", User: "bridge", Password: "ctx-s3cret", CA: f.ca, Cert: f.cert, Key: f.key, TLSFirst: true, InboxPrefix: "_INBOX_bridge", Context: "prod"}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		want     func(got config.NATS) // checks beyond the fields
		url      string
		user     string
		password string
		token    string
		creds    string
		nkey     string
		cred     string // Credential()
	}{
		{name: "by name", env: map[string]string{"NATS_CONTEXT": "prod"}, url: prod.URL, user: "bridge", password: "ctx-s3cret", cred: "NATS_USER/NATS_PASSWORD of NATS_CONTEXT prod",
			want: func(got config.NATS) {
				require.Equal(t, f.ca, got.CA)
				require.Equal(t, f.cert, got.Cert)
				require.True(t, got.TLSFirst)
				require.Equal(t, "_INBOX_bridge", got.InboxPrefix)
			}},
		{name: "by flag", args: []string{"-nats-context", "viacreds"}, url: "nats://ngs:4222", creds: f.creds, cred: "NATS_CREDS of NATS_CONTEXT viacreds"},
		{name: "NATS_URL overrides the context", env: map[string]string{"NATS_CONTEXT": "prod", "NATS_URL": "nats://override:4222"}, url: "nats://override:4222", user: "bridge", password: "ctx-s3cret", cred: "NATS_USER/NATS_PASSWORD of NATS_CONTEXT prod"},
		{name: "the URL flag overrides the context", env: map[string]string{"NATS_CONTEXT": "prod"}, args: []string{"-nats-url", "nats://flag:4222"}, url: "nats://flag:4222", user: "bridge", password: "ctx-s3cret", cred: "NATS_USER/NATS_PASSWORD of NATS_CONTEXT prod"},
		{name: "an explicit credential replaces the context's", env: map[string]string{"NATS_CONTEXT": "prod", "NATS_CREDS": f.creds}, url: prod.URL, creds: f.creds, cred: "NATS_CREDS"},
		{name: "an explicit password completes the context's user", env: map[string]string{"NATS_CONTEXT": "prod", "NATS_PASSWORD": "rotated"}, url: prod.URL, user: "bridge", password: "rotated", cred: "NATS_USER/NATS_PASSWORD of NATS_CONTEXT prod"},
		{name: "under HOME, with ~, $VAR and file://", env: map[string]string{"NATS_CONTEXT": "home", "HOME": home, "CERTS": filepath.Dir(f.ca)},
			url: config.DefaultNATSURL, token: "ctx-token", cred: "NATS_TOKEN of NATS_CONTEXT home",
			want: func(got config.NATS) { require.Equal(t, f.ca, got.CA) }},
		{name: "a token from env://", env: map[string]string{"NATS_CONTEXT": "envtoken", "CTX_TOKEN": "from-env"}, url: config.DefaultNATSURL, token: "from-env", cred: "NATS_TOKEN of NATS_CONTEXT envtoken"},
		{name: "an explicit nkey replaces the context's token", env: map[string]string{"NATS_CONTEXT": "envtoken", "NATS_NKEY": f.seed}, url: config.DefaultNATSURL, nkey: f.seed, cred: "NATS_NKEY"},
		{name: "a .json file", env: map[string]string{"NATS_CONTEXT": byPath}, url: "nats://elsewhere:4222"},
		{name: "the selected context is not used unless named", env: map[string]string{}, url: config.DefaultNATSURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := with(map[string]string{"XDG_CONFIG_HOME": xdg}, tt.env)
			if tt.env["HOME"] != "" {
				delete(env, "XDG_CONFIG_HOME")
			}
			c, err := config.LoadBridge(tt.args, envOf(env))
			require.NoError(t, err)
			got := c.NATS
			for _, fv := range []struct{ name, got, want string }{
				{"URL", got.URL, tt.url}, {"User", got.User, tt.user}, {"Password", got.Password, tt.password},
				{"Token", got.Token, tt.token}, {"Creds", got.Creds, tt.creds}, {"NKey", got.NKey, tt.nkey},
				{"Credential()", got.Credential(), tt.cred},
			} {
				require.Equal(t, fv.want, fv.got, "%s: got %q, want %q", fv.name, fv.got, fv.want)
			}
			if tt.want != nil {
				tt.want(got)
			}
			w, err := config.LoadWorker(tt.args, envOf(with(workerKey, env)))
			require.NoError(t, err)
			require.Equal(t, got, w.NATS, "the worker reads the context as the bridge does")
		})
	}
}

func TestNATSContextErrors(t *testing.T) {
	f := newNATSFiles(t)
	xdg := t.TempDir()
	writeContext(t, xdg, "jsdomain", map[string]any{"url": "nats://x:4222", "jetstream_domain": "hub", "socks_proxy": "socks5://p:1080"})
	writeContext(t, xdg, "op", map[string]any{"creds": "op://vault/nats/creds"})
	writeContext(t, xdg, "oppw", map[string]any{"user": "u", "password": "op://vault/nats/password"})
	writeContext(t, xdg, "envpw", map[string]any{"user": "u", "password": "env://UNSET_PASSWORD"})
	writeContext(t, xdg, "badcreds", map[string]any{"creds": f.ca})
	writeContext(t, xdg, "two", map[string]any{"token": "ctx-s3cret", "nkey": f.seed})
	dir := filepath.Join(xdg, "nats", "context")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"url": "nats://x:4222", "password": "ctx-s3cret",`), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "unknown context", env: map[string]string{"NATS_CONTEXT": "nope"}, wantErr: []string{"NATS_CONTEXT", `"nope"`, "nats context ls"}},
		{name: "a path that is not there", env: map[string]string{"NATS_CONTEXT": "/no/such/ctx.json"}, wantErr: []string{"NATS_CONTEXT", "neither a context name nor an existing .json file"}},
		{name: "no config dir", env: map[string]string{"NATS_CONTEXT": "prod", "XDG_CONFIG_HOME": ""}, wantErr: []string{"NATS_CONTEXT", "neither XDG_CONFIG_HOME nor HOME is set"}},
		{name: "not JSON", env: map[string]string{"NATS_CONTEXT": "broken"}, wantErr: []string{"NATS_CONTEXT", "is not a nats context"}},
		{name: "settings flowbridge cannot honour", env: map[string]string{"NATS_CONTEXT": "jsdomain"}, wantErr: []string{"NATS_CONTEXT", "sets socks_proxy, jetstream_domain, which flowbridge does not support"}},
		{name: "a 1Password creds reference", env: map[string]string{"NATS_CONTEXT": "op"}, wantErr: []string{"NATS_CONTEXT", "creds is a op: reference"}},
		{name: "a 1Password password reference", env: map[string]string{"NATS_CONTEXT": "oppw"}, wantErr: []string{"NATS_CONTEXT", "password is a op:// reference"}},
		{name: "a password from an unset variable", env: map[string]string{"NATS_CONTEXT": "envpw"}, wantErr: []string{"NATS_CONTEXT", "password names the variable UNSET_PASSWORD, which is not set"}},
		{name: "two credentials in the context", env: map[string]string{"NATS_CONTEXT": "two"}, wantErr: []string{"NATS_TOKEN of NATS_CONTEXT two and NATS_NKEY of NATS_CONTEXT two are all set"}},
		{name: "a bad creds file in the context", env: map[string]string{"NATS_CONTEXT": "badcreds"}, wantErr: []string{"NATS_CREDS of NATS_CONTEXT badcreds", "holds no valid user JWT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(nil, envOf(with(map[string]string{"XDG_CONFIG_HOME": xdg}, tt.env)))
			requireInvalid(t, err, tt.wantErr...)
			require.NotContains(t, err.Error(), "ctx-s3cret")
		})
	}
}
