package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// natsContext is what flowbridge reads of a `nats context`: the JSON the nats CLI writes
// to $XDG_CONFIG_HOME/nats/context/NAME.json (github.com/nats-io/jsm.go, package
// natscontext). That package is not imported: it links all of nats-server into the binary
// for what is a JSON file.
type natsContext struct {
	URL         string `json:"url"`
	User        string `json:"user"`
	Password    string `json:"password"`
	Token       string `json:"token"`
	Creds       string `json:"creds"`
	NKey        string `json:"nkey"`
	Cert        string `json:"cert"`
	Key         string `json:"key"`
	CA          string `json:"ca"`
	TLSFirst    bool   `json:"tls_first"`
	InboxPrefix string `json:"inbox_prefix"`

	// Settings flowbridge cannot honour: a context that sets one is refused rather than
	// half-used.
	NSC          string `json:"nsc"`
	UserJWT      string `json:"user_jwt"`
	UserSeed     string `json:"user_seed"`
	SocksProxy   string `json:"socks_proxy"`
	JSDomain     string `json:"jetstream_domain"`
	JSAPIPrefix  string `json:"jetstream_api_prefix"`
	WinCertStore string `json:"windows_cert_store"`

	path string // the file it was read from
}

// loadNATSContext reads the context name: a context's name, or the path of its .json file
// (as the nats CLI takes either). Paths in it get ~ and $VAR expanded, as the CLI does.
// Its password and token are left as they are, for secret to resolve if they are used.
// Errors wrap ErrInvalid and name NATS_CONTEXT.
func loadNATSContext(name string, env func(string) string) (natsContext, error) {
	fail := func(format string, args ...any) (natsContext, error) {
		return natsContext{}, invalid("NATS_CONTEXT", fmt.Sprintf(format, args...))
	}
	path := name
	if fi, err := os.Stat(name); err != nil || fi.IsDir() || !strings.HasSuffix(name, ".json") {
		if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return fail("%q is neither a context name nor an existing .json file", name)
		}
		dir := env("XDG_CONFIG_HOME")
		if dir == "" {
			home := env("HOME")
			if home == "" {
				return fail("%q: neither XDG_CONFIG_HOME nor HOME is set, so the nats contexts cannot be found (or give the path of the .json file)", name)
			}
			dir = filepath.Join(home, ".config")
		}
		path = filepath.Join(dir, "nats", "context", name+".json")
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return fail("%q: there is no %s (`nats context ls` lists the contexts)", name, path)
	}
	if err != nil {
		return fail("%q: %v", name, err)
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return fail("%q: %s is not a nats context: %v", name, path, err)
	}
	var unsupported []string
	for _, f := range []struct{ json, v string }{
		{"nsc", c.NSC}, {"user_jwt", c.UserJWT}, {"user_seed", c.UserSeed}, {"socks_proxy", c.SocksProxy},
		{"jetstream_domain", c.JSDomain}, {"jetstream_api_prefix", c.JSAPIPrefix}, {"windows_cert_store", c.WinCertStore},
	} {
		if f.v != "" {
			unsupported = append(unsupported, f.json)
		}
	}
	if len(unsupported) > 0 {
		return fail("%q (%s) sets %s, which flowbridge does not support: use a context without it, or the NATS_* variables", name, path, strings.Join(unsupported, ", "))
	}
	for _, f := range []struct {
		json string
		p    *string
	}{{"creds", &c.Creds}, {"nkey", &c.NKey}, {"cert", &c.Cert}, {"key", &c.Key}, {"ca", &c.CA}} {
		if *f.p, err = contextPath(*f.p, env); err != nil {
			return fail("%q (%s): %s %v", name, path, f.json, err)
		}
	}
	c.path = path
	return c, nil
}

// uriScheme matches the scheme of a reference such as op://vault/item or data:...
var uriScheme = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]+):`)

// contextPath is a file reference of a context as a path: bare or file://, with $VAR and
// a leading ~ expanded.
func contextPath(v string, env func(string) string) (string, error) {
	if m := uriScheme.FindStringSubmatch(v); m != nil {
		if !strings.EqualFold(m[1], "file") {
			return "", fmt.Errorf("is a %s: reference, which flowbridge does not resolve: give a file path", m[1])
		}
		v = v[len("file://"):]
	}
	v = os.Expand(v, env)
	if v == "~" || strings.HasPrefix(v, "~/") {
		home := env("HOME")
		if home == "" {
			return "", fmt.Errorf("starts with ~ but HOME is not set")
		}
		v = home + v[1:]
	}
	return v, nil
}

// secret resolves v, the context's password or token (its JSON name field): itself, or
// read from env://VAR or file://PATH, as the nats CLI's resolvers allow. Errors wrap
// ErrInvalid, name NATS_CONTEXT and never quote the value.
func (c natsContext) secret(field, v, name string, env func(string) string) (string, error) {
	s, err := contextSecret(v, env)
	if err != nil {
		return "", invalid("NATS_CONTEXT", fmt.Sprintf("%q (%s): %s %v", name, c.path, field, err))
	}
	return s, nil
}

func contextSecret(v string, env func(string) string) (string, error) {
	m := uriScheme.FindStringSubmatch(v)
	if m == nil || !strings.HasPrefix(v[len(m[0]):], "//") {
		return v, nil // a literal, which may hold a colon
	}
	ref := v[len(m[0])+2:]
	switch strings.ToLower(m[1]) {
	case "env":
		s := env(ref)
		if s == "" {
			return "", fmt.Errorf("names the variable %s, which is not set", ref)
		}
		return s, nil
	case "file":
		p, err := contextPath("file://"+ref, env)
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("cannot be read: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case "op", "nsc":
		return "", fmt.Errorf("is a %s:// reference, which flowbridge does not resolve: use env://VAR or file://PATH", m[1])
	}
	return v, nil
}
