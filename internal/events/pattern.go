package events

import (
	"fmt"
	"strings"
)

// CheckPattern reports whether p is an event type pattern with NATS subject semantics:
// an event type whose tokens may also be '*' (exactly one token) or, as the last token
// only, '>' (one or more tokens). "user.>", "*.verified" and "stripe.paid" are patterns.
func CheckPattern(p string) error {
	toks := strings.Split(p, ".")
	for i, tok := range toks {
		switch {
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("%w: pattern %q: '>' may only be the last token", ErrMalformed, p)
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("%w: pattern %q: '*' and '>' must be whole tokens", ErrMalformed, p)
		}
	}
	if err := CheckType(strings.NewReplacer("*", "x", ">", "x").Replace(p)); err != nil {
		return fmt.Errorf("%w: %q is not an event type or pattern (dot-separated tokens, '*' or '>' as wildcards)", ErrMalformed, p)
	}
	return nil
}

// MatchType reports whether event type t matches pattern p (see CheckPattern). It
// allocates nothing: the bridge matches every event against every route's patterns.
func MatchType(p, t string) bool {
	for {
		ptok, prest, pmore := strings.Cut(p, ".")
		ttok, trest, tmore := strings.Cut(t, ".")
		if ptok == ">" {
			return true // t has this token, and ">" takes it and the rest
		}
		if ptok != "*" && ptok != ttok {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		p, t = prest, trest
	}
}
