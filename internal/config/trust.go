package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	flag "github.com/spf13/pflag"

	"github.com/flowbridge/flowbridge/internal/events"
)

// EventsToken is one entry of INGRESS_EVENTS_TOKENS: a bearer token of POST /events and
// the patterns of the event types it may publish (none: any type but the webhooks').
type EventsToken struct {
	Token string
	Types []string
}

// ParseEventsTokens reads INGRESS_EVENTS_TOKENS: entries separated by commas (or
// newlines), each either
//
//	TOKEN                        any event type but the webhooks' own
//	TOKEN=PATTERN|PATTERN...     only types matching a pattern (NATS wildcards: user.>, *.verified)
//
// A token may end in '=' (base64 padding): the scope starts after the first run of '=',
// so "abc==" is a bare token and "abc===user.>" is the token "abc==" scoped to user.>. A
// token has no spaces, commas or '|'. Errors name an entry by its position, never by its
// token.
func ParseEventsTokens(s string) ([]EventsToken, error) {
	var out []EventsToken
	n := 0
	for _, entry := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n++
		t := EventsToken{Token: entry}
		if i := strings.IndexByte(entry, '='); i >= 0 {
			j := i
			for j < len(entry) && entry[j] == '=' {
				j++
			}
			if j < len(entry) {
				t.Token = strings.TrimSpace(entry[:j-1])
				for _, p := range strings.Split(entry[j:], "|") {
					p = strings.TrimSpace(p)
					if err := events.CheckPattern(p); err != nil {
						return nil, fmt.Errorf("entry %d: scope (the part after '=') is not a list of event type patterns separated by '|' (user.>|email.verified); a token with '=' inside it is read as TOKEN=SCOPE", n)
					}
					t.Types = append(t.Types, p)
				}
			}
		}
		if strings.IndexFunc(t.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '|' }) >= 0 || t.Token == "" {
			return nil, fmt.Errorf("entry %d: a token is printable characters without spaces or '|'", n)
		}
		for k, prev := range out {
			if prev.Token == t.Token {
				return nil, fmt.Errorf("entries %d and %d have the same token: give it one scope (TOKEN=a.>|b.c)", k+1, n)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// secretSetting reads a secret from env's NAME, or from the file NAME_FILE names (its
// trailing newline trimmed). Setting both is an error.
func secretSetting(env func(string) string, name string) (string, error) {
	v, file := env(name), env(name+"_FILE")
	switch {
	case file == "":
		return v, nil
	case v != "":
		return "", invalid(name, "and "+name+"_FILE are both set: set one")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", invalid(name+"_FILE", fmt.Sprintf("cannot be read: %v", err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// secretFiles returns env with each of names read by secretSetting, so that the secret
// NAME may be given as the file NAME_FILE names (Kubernetes and Docker secrets); the
// error names each setting that could not be read.
func secretFiles(env func(string) string, names ...string) (func(string) string, error) {
	vals := make(map[string]string, len(names))
	var errs []error
	for _, name := range names {
		v, err := secretSetting(env, name)
		vals[name] = v
		errs = append(errs, err)
	}
	return func(name string) string {
		if v, ok := vals[name]; ok {
			return v
		}
		return env(name)
	}, errors.Join(errs...)
}

// boolVar registers a boolean flag whose default is read from env (true, false, 1, 0);
// a malformed environment value is reported by Load rather than silently replaced.
func boolVar(fs *flag.FlagSet, p *bool, name, envName string, env func(string) string, usage string, errs *[]error) {
	v := false
	if s := env(envName); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			*errs = append(*errs, invalid(envName, fmt.Sprintf("%q is not true or false", s)))
		}
		v = b
	}
	fs.BoolVar(p, name, v, usage+" ("+envName+")")
}
