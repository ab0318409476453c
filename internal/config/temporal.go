package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	flag "github.com/spf13/pflag"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Temporal is how a process reaches Temporal, configured as the temporal CLI is: the same
// environment variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS, TEMPORAL_TLS_*, TEMPORAL_CODEC_*) and the same temporal.toml profiles
// (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE), read by the SDK's own loader
// (go.temporal.io/sdk/contrib/envconfig). Each variable has a flag of the same name
// (--temporal-tls-client-cert-path ...). A flag wins over the environment, which wins over
// the profile, which wins over the defaults (127.0.0.1:7233, namespace "default").
//
// Register the flags with Register, parse, then call Load.
type Temporal struct {
	// Client is the resolved connection: address, namespace, API key, TLS (on when the
	// profile or TEMPORAL_TLS says so, or by default with an API key or any TLS setting, as
	// in the CLI), codec server and the profile's gRPC headers. Package app turns it into
	// the SDK's client options with Client.ToClientOptions.
	Client envconfig.ClientConfigProfile
	// Profile is the temporal.toml profile read (TEMPORAL_PROFILE); empty: "default", if
	// the file has one.
	Profile string
	// ConfigFile is the temporal.toml read (TEMPORAL_CONFIG_FILE); empty: the CLI's own,
	// envconfig.DefaultConfigFilePath(), which need not exist.
	ConfigFile string
	// GRPCCompression is how requests to Temporal are compressed: "none" or "gzip" (the
	// SDK's own default, worth it only over a slow link).
	GRPCCompression string
}

// temporalSecrets are the secret settings of Temporal: never shown, and also read from
// the file NAME_FILE names.
var temporalSecrets = []string{"TEMPORAL_API_KEY", "TEMPORAL_CODEC_AUTH"}

// Register registers t's flags on fs, their defaults shown from env. Their values are
// read by Load, after fs is parsed.
func (t *Temporal) Register(fs *flag.FlagSet, env func(string) string) {
	str := func(name, def, usage string) {
		fs.String(flagName(name), or(env(name), def), usage+" ("+name+")")
	}
	str("TEMPORAL_ADDRESS", DefaultTemporalAddress, "Temporal frontend host:port; else the profile's")
	str("TEMPORAL_NAMESPACE", DefaultTemporalNamespace, "Temporal namespace; else the profile's")
	for _, name := range temporalSecrets {
		v, _ := secretSetting(env, name) // Load reports a problem
		usage := "API key, sent as the authorization header; TLS is then on unless TEMPORAL_TLS is false (TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE)"
		if name == "TEMPORAL_CODEC_AUTH" {
			usage = "Authorization header value for the codec server (TEMPORAL_CODEC_AUTH or TEMPORAL_CODEC_AUTH_FILE)"
		}
		fs.Var(secret{&v, redactAll}, flagName(name), usage)
	}
	envBool := func(name string) bool { v := strings.ToLower(env(name)); return v == "1" || v == "true" }
	fs.Bool(flagName("TEMPORAL_TLS"), envBool("TEMPORAL_TLS"), "use TLS; by default on with an API key or any TLS setting (TEMPORAL_TLS)")
	str("TEMPORAL_TLS_CLIENT_CERT_PATH", "", "PEM client certificate for mTLS, with its key")
	str("TEMPORAL_TLS_CLIENT_KEY_PATH", "", "PEM key of the client certificate")
	str("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "", "PEM CA certificate(s) the server's certificate must chain to; default: the system's")
	str("TEMPORAL_TLS_SERVER_NAME", "", "server name expected in the server's certificate (and sent as SNI); default: the address's host")
	fs.Bool(flagName("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"), envBool("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"), "accept any server certificate: for tests only (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	str("TEMPORAL_PROFILE", "", "temporal.toml profile to read; default: \"default\" if present")
	str("TEMPORAL_CONFIG_FILE", "", "temporal.toml to read profiles from; default: the temporal CLI's ("+envconfig.DefaultConfigFilePath()+")")
	str("TEMPORAL_CODEC_ENDPOINT", "", "codec server URL (the CLI's --codec-endpoint): payloads the bridge sends, and the worker's, are encoded there")
	fs.StringVar(&t.GRPCCompression, "temporal-grpc-compression", or(env("TEMPORAL_GRPC_COMPRESSION"), DefaultTemporalGRPCCompression),
		"gRPC compression toward Temporal: none or gzip (TEMPORAL_GRPC_COMPRESSION)")
}

// flagName is the flag of an environment variable: TEMPORAL_TLS_SERVER_NAME is
// -temporal-tls-server-name.
func flagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// Load resolves t from the flags set on fs (registered by Register, fs parsed), env and the
// temporal.toml profile, and validates it. Errors wrap ErrInvalid and name the setting;
// none shows a secret.
func (t *Temporal) Load(fs *flag.FlagSet, env func(string) string) error {
	var errs []error
	look := &temporalEnv{fs: fs, env: env, set: map[string]bool{}, secrets: map[string]string{}}
	fs.Visit(func(f *flag.Flag) { look.set[f.Name] = true })
	for _, name := range temporalSecrets {
		v, err := secretSetting(env, name)
		errs = append(errs, err)
		look.secrets[name] = v
	}
	for _, name := range []string{"TEMPORAL_TLS", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"} {
		// envconfig ignores a value it does not understand; a typo must not go unnoticed.
		if v := env(name); v != "" && !slices.Contains([]string{"1", "0", "true", "false"}, strings.ToLower(v)) {
			errs = append(errs, invalid(name, fmt.Sprintf("%q is not true or false", v)))
		}
	}
	t.Profile, _ = look.LookupEnv("TEMPORAL_PROFILE")
	t.ConfigFile, _ = look.LookupEnv("TEMPORAL_CONFIG_FILE")

	prof, err := t.loadProfile(look)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := prof.ApplyEnvVars(look); err != nil {
		return errors.Join(append(errs, invalid("TEMPORAL_*", err.Error()))...)
	}
	for _, s := range []struct {
		name, def string
		p         *string
	}{
		{"TEMPORAL_ADDRESS", DefaultTemporalAddress, &prof.Address},
		{"TEMPORAL_NAMESPACE", DefaultTemporalNamespace, &prof.Namespace},
	} {
		if f := fs.Lookup(flagName(s.name)); look.set[f.Name] && flagValue(f) == "" {
			errs = append(errs, invalid(s.name, "must not be empty"))
		}
		*s.p = or(*s.p, s.def)
	}
	if _, _, err := splitHostPort(prof.Address); err != nil {
		why := err.Error()
		if _, ok := look.LookupEnv("TEMPORAL_ADDRESS"); !ok {
			why += fmt.Sprintf(" (the address of profile %q)", or(t.Profile, envconfig.DefaultConfigFileProfile))
		}
		errs = append(errs, invalid("TEMPORAL_ADDRESS", why))
	}
	if t.GRPCCompression != "none" && t.GRPCCompression != "gzip" {
		errs = append(errs, invalid("TEMPORAL_GRPC_COMPRESSION", fmt.Sprintf("%q is not none or gzip", t.GRPCCompression)))
	}
	if TemporalTLS(prof) {
		errs = append(errs, checkTemporalTLS(prof.TLS))
	}
	if c := prof.Codec; c != nil && c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, invalid("TEMPORAL_CODEC_ENDPOINT", "must be an http:// or https:// URL"))
		}
	}
	t.Client = prof
	return errors.Join(errs...)
}

// TemporalTLS reports whether a connection with the settings of p uses TLS: the rule of
// envconfig (and the CLI): on when p has TLS settings that do not disable it, or else
// when it has an API key.
func TemporalTLS(p envconfig.ClientConfigProfile) bool {
	if p.TLS != nil {
		return !p.TLS.Disabled
	}
	return p.APIKey != ""
}

// loadProfile reads the profile from the config file, with errors that name the setting
// and never quote the file (it may hold an API key).
func (t *Temporal) loadProfile(look *temporalEnv) (envconfig.ClientConfigProfile, error) {
	file := t.ConfigFile
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return envconfig.ClientConfigProfile{}, invalid("TEMPORAL_CONFIG_FILE", fmt.Sprintf("cannot be read: %v", err))
		}
	} else {
		file = envconfig.DefaultConfigFilePath()
	}
	conf, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{ConfigFilePath: file, EnvLookup: look})
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			err = fmt.Errorf("line %d is not valid TOML", perr.Position.Line)
		}
		return envconfig.ClientConfigProfile{}, invalid("TEMPORAL_CONFIG_FILE", fmt.Sprintf("%s: %v", file, err))
	}
	name := or(t.Profile, envconfig.DefaultConfigFileProfile)
	if p := conf.Profiles[name]; p != nil {
		return *p, nil
	}
	if t.Profile == "" {
		return envconfig.ClientConfigProfile{}, nil // no default profile: the environment and defaults only
	}
	if _, err := os.Stat(file); err != nil {
		return envconfig.ClientConfigProfile{}, invalid("TEMPORAL_PROFILE", fmt.Sprintf("%q is set, but there is no temporal.toml at %s: set TEMPORAL_CONFIG_FILE", t.Profile, file))
	}
	names := make([]string, 0, len(conf.Profiles))
	for n := range conf.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	has := "none"
	if len(names) > 0 {
		has = "the profiles " + strings.Join(names, ", ")
	}
	return envconfig.ClientConfigProfile{}, invalid("TEMPORAL_PROFILE", fmt.Sprintf("%q is not a profile of %s, which has %s", t.Profile, file, has))
}

// checkTemporalTLS checks at start-up what envconfig would only find on connecting:
// the certificate and its key come together and load, the CA file holds certificates.
func checkTemporalTLS(c *envconfig.ClientConfigTLS) error {
	if c == nil {
		return nil
	}
	const (
		certPath = "TEMPORAL_TLS_CLIENT_CERT_PATH"
		keyPath  = "TEMPORAL_TLS_CLIENT_KEY_PATH"
		caPath   = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
	)
	var errs []error
	hasPath, hasData := c.ClientCertPath != "" || c.ClientKeyPath != "", len(c.ClientCertData) > 0 || len(c.ClientKeyData) > 0
	switch {
	case hasPath && hasData:
		errs = append(errs, invalid(certPath, "and "+keyPath+" cannot be used with certificate data (the profile's client_cert_data, TEMPORAL_TLS_CLIENT_CERT_DATA): set one"))
	case hasPath && c.ClientKeyPath == "":
		errs = append(errs, invalid(keyPath, "must be set with "+certPath))
	case hasPath && c.ClientCertPath == "":
		errs = append(errs, invalid(certPath, "must be set with "+keyPath))
	case hasPath:
		if _, err := tls.LoadX509KeyPair(c.ClientCertPath, c.ClientKeyPath); err != nil {
			errs = append(errs, invalid(certPath, "and "+keyPath+" are not a PEM certificate and its key: "+err.Error()))
		}
	case hasData && (len(c.ClientCertData) == 0 || len(c.ClientKeyData) == 0):
		errs = append(errs, invalid("TEMPORAL_TLS_CLIENT_CERT_DATA", "and TEMPORAL_TLS_CLIENT_KEY_DATA (the profile's client_cert_data, client_key_data) must be set together"))
	case hasData:
		if _, err := tls.X509KeyPair(c.ClientCertData, c.ClientKeyData); err != nil {
			errs = append(errs, invalid("TEMPORAL_TLS_CLIENT_CERT_DATA", "and TEMPORAL_TLS_CLIENT_KEY_DATA (the profile's client_cert_data, client_key_data) are not a PEM certificate and its key"))
		}
	}
	ca := c.ServerCACertData
	switch {
	case c.ServerCACertPath != "" && len(ca) > 0:
		errs = append(errs, invalid(caPath, "cannot be used with CA data (server_ca_cert_data, TEMPORAL_TLS_SERVER_CA_CERT_DATA): set one"))
	case c.ServerCACertPath != "":
		b, err := os.ReadFile(c.ServerCACertPath)
		if err != nil {
			errs = append(errs, invalid(caPath, fmt.Sprintf("cannot be read: %v", err)))
			break
		}
		ca = b
	}
	if len(ca) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		errs = append(errs, invalid(caPath, "holds no PEM certificate"))
	}
	return errors.Join(errs...)
}

// flagValue is f's value, a secret's unredacted.
func flagValue(f *flag.Flag) string {
	if s, ok := f.Value.(secret); ok {
		return *s.p
	}
	return f.Value.String()
}

// temporalEnv is what envconfig reads its variables from: a flag set on the command line,
// else env, with the secrets read through secretSetting. An empty variable or flag counts
// as unset, as everywhere in flowbridge (for envconfig, a TLS variable set empty would turn
// TLS on).
type temporalEnv struct {
	fs      *flag.FlagSet
	env     func(string) string
	set     map[string]bool // flags set on the command line
	secrets map[string]string
}

var _ envconfig.EnvLookup = (*temporalEnv)(nil)

func (e *temporalEnv) LookupEnv(name string) (string, bool) {
	if f := e.fs.Lookup(flagName(name)); f != nil && e.set[f.Name] {
		v := flagValue(f)
		return v, v != ""
	}
	if v, ok := e.secrets[name]; ok {
		return v, v != ""
	}
	v := e.env(name)
	return v, v != ""
}

// Environ lists no variables: flowbridge reads the environment by name only, so the CLI's
// TEMPORAL_GRPC_META_* are not read; a profile's grpc_meta table is.
func (e *temporalEnv) Environ() []string { return nil }
