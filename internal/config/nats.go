package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	flag "github.com/spf13/pflag"
)

// NATS is how a process connects to NATS, in the `nats` CLI's own settings, so a team
// points flowbridge at a cluster with the values, files and contexts its `nats` commands
// already use. The bridge, the worker and the operator commands read it the same way
// (AddFlags, then Resolve). An empty field is unset.
//
// Its String and GoString never show the password or the token.
type NATS struct {
	// URL is the server URL(s), comma-separated (NATS_URL); default DefaultNATSURL.
	URL string
	// User and Password authenticate with a user name and a password (NATS_USER,
	// NATS_PASSWORD or NATS_PASSWORD_FILE).
	User, Password string
	// Token authenticates with a token (NATS_TOKEN or NATS_TOKEN_FILE).
	Token string
	// Creds is a user's JWT credentials file, as `nsc` writes it (NATS_CREDS).
	Creds string
	// NKey is a file holding a user's nkey seed (NATS_NKEY).
	NKey string
	// CA is a PEM file of the CAs that sign the servers' certificates (NATS_CA); without
	// it the system's CAs are trusted. Cert and Key are a client certificate and its key,
	// for servers that verify clients (NATS_CERT, NATS_KEY). Any of the three turns TLS on;
	// a server that requires TLS gets it without them.
	CA, Cert, Key string
	// Context is the `nats context` whose values fill the settings above that are unset
	// (NATS_CONTEXT): a name, read from $XDG_CONFIG_HOME/nats/context/NAME.json (default
	// ~/.config/nats), or the path of such a .json file. The context `nats context select`
	// chose is not used unless named: a server process must not follow someone's shell.
	Context string
	// TLSFirst (a context's tls_first) makes the TLS handshake before the server's greeting.
	TLSFirst bool
	// InboxPrefix (a context's inbox_prefix) replaces _INBOX in reply subjects, for users
	// allowed only inboxes of their own.
	InboxPrefix string

	// fromContext holds the settings whose value came from Context; nil without one.
	fromContext map[string]bool
}

// The credential settings, as messages name them.
const (
	natsUserPassword = "NATS_USER/NATS_PASSWORD"
	natsToken        = "NATS_TOKEN"
	natsCreds        = "NATS_CREDS"
	natsNKey         = "NATS_NKEY"
)

// AddFlags registers the -nats-* flags on fs, their defaults read from env. Resolve must
// follow the parse.
func (n *NATS) AddFlags(fs *flag.FlagSet, env func(string) string) {
	n.URL = or(env("NATS_URL"), DefaultNATSURL)
	fs.Var(secret{&n.URL, RedactURLs}, "nats-url", "NATS server URL(s), comma-separated (NATS_URL)")
	fs.StringVar(&n.User, "nats-user", env("NATS_USER"), "NATS user, with --nats-password (NATS_USER)")
	n.Password = env("NATS_PASSWORD")
	fs.Var(secret{&n.Password, redactAll}, "nats-password", "NATS password (NATS_PASSWORD or NATS_PASSWORD_FILE)")
	n.Token = env("NATS_TOKEN")
	fs.Var(secret{&n.Token, redactAll}, "nats-token", "NATS token (NATS_TOKEN or NATS_TOKEN_FILE)")
	fs.StringVar(&n.Creds, "nats-creds", env("NATS_CREDS"), "NATS user credentials (JWT) file (NATS_CREDS)")
	fs.StringVar(&n.NKey, "nats-nkey", env("NATS_NKEY"), "file holding a NATS user's nkey seed (NATS_NKEY)")
	fs.StringVar(&n.CA, "nats-ca", env("NATS_CA"), "PEM file of the CAs that sign the NATS servers' certificates (NATS_CA)")
	fs.StringVar(&n.Cert, "nats-cert", env("NATS_CERT"), "client certificate (PEM) for NATS servers that verify clients (NATS_CERT)")
	fs.StringVar(&n.Key, "nats-key", env("NATS_KEY"), "key of --nats-cert (NATS_KEY)")
	fs.StringVar(&n.Context, "nats-context", env("NATS_CONTEXT"), "nats context, a name or a .json file, filling the NATS settings left unset (NATS_CONTEXT)")
}

// Resolve completes the settings once the flags are parsed — NATS_PASSWORD_FILE and
// NATS_TOKEN_FILE, then the context's values for the settings still unset — and checks
// them: the credential and certificate files must be readable and hold what their
// setting says. Its errors wrap ErrInvalid and name the setting, never a secret.
func (n *NATS) Resolve(env func(string) string) error {
	var errs []error
	for _, s := range []struct {
		name string
		p    *string
	}{{"NATS_PASSWORD", &n.Password}, {"NATS_TOKEN", &n.Token}} {
		if *s.p != env(s.name) {
			continue // given by its flag, which wins over the environment
		}
		v, err := secretSetting(env, s.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*s.p = v
	}
	if n.Context != "" {
		c, err := loadNATSContext(n.Context, env)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := n.fill(c, env("NATS_URL") != "" || n.URL != DefaultNATSURL, env); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	errs = append(errs, n.validate(time.Now()))
	return errors.Join(errs...)
}

// fill sets what is unset from the context c. A credential given by the environment or a
// flag replaces the context's, whatever its kind: the context's user and password do not
// join an explicit NATS_CREDS, but do complete an explicit NATS_PASSWORD. Only the
// context's secrets it takes are resolved.
func (n *NATS) fill(c natsContext, urlSet bool, env func(string) string) error {
	n.fromContext = map[string]bool{}
	take := func(setting string, p *string, v string) {
		if *p == "" && v != "" {
			*p = v
			n.fromContext[setting] = true
		}
	}
	var errs []error
	takeSecret := func(setting, field string, p *string, v string) {
		if *p != "" || v == "" {
			return
		}
		s, err := c.secret(field, v, n.Context, env)
		errs = append(errs, err)
		take(setting, p, s)
	}
	if !urlSet && c.URL != "" {
		n.URL = c.URL
		n.fromContext["NATS_URL"] = true
	}
	explicit := n.credentials()
	kind := func(k string) bool { return len(explicit) == 0 || explicit[0] == k }
	if kind(natsUserPassword) {
		take("NATS_USER", &n.User, c.User)
		takeSecret("NATS_PASSWORD", "password", &n.Password, c.Password)
	}
	if kind(natsToken) {
		takeSecret("NATS_TOKEN", "token", &n.Token, c.Token)
	}
	if kind(natsCreds) {
		take("NATS_CREDS", &n.Creds, c.Creds)
	}
	if kind(natsNKey) {
		take("NATS_NKEY", &n.NKey, c.NKey)
	}
	take("NATS_CA", &n.CA, c.CA)
	take("NATS_CERT", &n.Cert, c.Cert)
	take("NATS_KEY", &n.Key, c.Key)
	n.TLSFirst = c.TLSFirst
	n.InboxPrefix = c.InboxPrefix
	return errors.Join(errs...)
}

// credentials lists the kinds of credential set: at most one is valid.
func (n *NATS) credentials() []string {
	var out []string
	if n.User != "" || n.Password != "" {
		out = append(out, natsUserPassword)
	}
	for _, c := range []struct{ name, v string }{{natsToken, n.Token}, {natsCreds, n.Creds}, {natsNKey, n.NKey}} {
		if c.v != "" {
			out = append(out, c.name)
		}
	}
	return out
}

func (n *NATS) validate(now time.Time) error {
	var errs []error
	bad := func(setting, why string) { errs = append(errs, invalid(n.Label(setting), why)) }
	if n.URL == "" {
		bad("NATS_URL", "must not be empty")
	}
	if creds := n.credentials(); len(creds) > 1 {
		labels := make([]string, len(creds))
		for i, c := range creds {
			labels[i] = n.Label(c)
		}
		errs = append(errs, invalid(labels[0], "and "+strings.Join(labels[1:], " and ")+" are all set: a connection uses one credential, set one"))
	}
	switch {
	case n.User != "" && n.Password == "":
		bad("NATS_USER", "is set without NATS_PASSWORD (for a token, use NATS_TOKEN)")
	case n.User == "" && n.Password != "":
		bad("NATS_PASSWORD", "is set without NATS_USER")
	}
	if n.Creds != "" {
		if err := checkCredsFile(n.Creds, now); err != nil {
			bad("NATS_CREDS", err.Error())
		}
	}
	if n.NKey != "" {
		if err := checkSeedFile(n.NKey); err != nil {
			bad("NATS_NKEY", err.Error())
		}
	}
	if n.CA != "" {
		if err := checkCAFile(n.CA); err != nil {
			bad("NATS_CA", err.Error())
		}
	}
	switch {
	case n.Cert != "" && n.Key == "":
		bad("NATS_CERT", "is set without NATS_KEY, its private key")
	case n.Cert == "" && n.Key != "":
		bad("NATS_KEY", "is set without NATS_CERT, its certificate")
	case n.Cert != "":
		if _, err := tls.LoadX509KeyPair(n.Cert, n.Key); err != nil {
			errs = append(errs, invalid(n.Label("NATS_CERT"), fmt.Sprintf("%s and %s %s are not a certificate and its private key: %v", n.Cert, n.Label("NATS_KEY"), n.Key, err)))
		}
	}
	return errors.Join(errs...)
}

// Label is setting as messages name it: "NATS_CREDS", or "NATS_CREDS of NATS_CONTEXT
// prod)" when the context supplied it. setting is a variable name or a credential kind
// ("NATS_USER/NATS_PASSWORD").
func (n *NATS) Label(setting string) string {
	from := false
	for _, s := range strings.Split(setting, "/") {
		from = from || n.fromContext[s]
	}
	if from {
		return setting + " of NATS_CONTEXT " + n.Context
	}
	return setting
}

// Credential is the label of the credential the connection presents, or "" for none.
func (n *NATS) Credential() string {
	if c := n.credentials(); len(c) > 0 {
		return n.Label(c[0])
	}
	return ""
}

// String describes the settings without the password or the token.
func (n NATS) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "url=%s", RedactURLs(n.URL))
	if c := n.Credential(); c != "" {
		fmt.Fprintf(&b, " credential=%s", c)
	}
	for _, f := range []struct{ name, v string }{{"ca", n.CA}, {"cert", n.Cert}, {"context", n.Context}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.name, f.v)
		}
	}
	return b.String()
}

// GoString is String, so %#v does not show secrets either.
func (n NATS) GoString() string { return "config.NATS{" + n.String() + "}" }

// checkCredsFile checks that file holds a user JWT, unexpired at now, and a user seed.
// Its errors never quote the file.
func checkCredsFile(file string, now time.Time) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	defer wipe(b)
	token, err := nkeys.ParseDecoratedJWT(b)
	if err != nil {
		return fmt.Errorf("%s is not a credentials file: %w", file, err)
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return fmt.Errorf("%s holds no valid user JWT (is it a credentials file, as `nsc generate creds` writes?): %w", file, err)
	}
	if claims.Expires > 0 && now.Unix() >= claims.Expires {
		return fmt.Errorf("%s holds a user JWT that expired at %s: generate new credentials", file, time.Unix(claims.Expires, 0).UTC().Format(time.RFC3339))
	}
	if _, err := nkeys.ParseDecoratedUserNKey(b); err != nil {
		return fmt.Errorf("%s holds no user nkey seed: %w", file, err)
	}
	return nil
}

// checkSeedFile checks that file holds a user's nkey seed (SU...).
func checkSeedFile(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	defer wipe(b)
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s holds no user nkey seed (a line starting SU, as `nk -gen user` writes): %w", file, err)
	}
	kp.Wipe()
	return nil
}

func checkCAFile(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot be read: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate", file)
	}
	return nil
}

// wipe overwrites a secret read from a file once it has been checked.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}
