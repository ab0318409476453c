package ingress

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// EventsToken is a bearer token of POST /events and the event types it may publish.
type EventsToken struct {
	// Token is what the client sends: Authorization: Bearer <Token>.
	Token string
	// Types are the patterns (NATS wildcards: "user.>", "*.verified", "email.verified")
	// of the event types the token may publish. Optional: empty means any type but the
	// webhooks' own (WebhookTypes).
	//
	// A webhook's type is allowed only by a pattern that spells out its family: "stripe.>"
	// or "stripe.paid", "github.>" or "github.push", "blueprint.pushed" — never by "*.paid"
	// or ">".
	Types []string
}

// WebhookTypes are the types the webhooks produce, as patterns. POST /events takes them
// only from a token scoped to them by name (EventsToken.Types): a bare token or an open
// endpoint would otherwise let anyone bypass the webhooks' signatures and forge payments
// and deploys.
var WebhookTypes = []string{contract.TypePrefixStripe + ">", contract.TypePrefixGitHub + ">", contract.TypeBlueprintPushed}

// scope is what one caller of POST /events may publish.
type scope struct {
	// patterns of the allowed types; nil: any type but the webhooks'.
	patterns []string
	// who names the caller in refusals ("this token", "a request without a token").
	who string
	// setting says where the scope comes from, for refusals.
	setting string
}

// refusal says why s may not publish an event of type t, or "" when it may.
func (s scope) refusal(t string) string {
	if family, ok := webhookFamily(t); ok {
		for _, p := range s.patterns {
			if events.MatchType(p, t) && namesFamily(p, family) {
				return ""
			}
		}
		return fmt.Sprintf("%s may not publish %s: %s come from their webhooks; POST /events takes them only from a token that INGRESS_EVENTS_TOKENS scopes to them by name (<token>=%s)",
			s.who, t, strings.Join(WebhookTypes, ", "), family)
	}
	if s.patterns == nil {
		return ""
	}
	for _, p := range s.patterns {
		if events.MatchType(p, t) {
			return ""
		}
	}
	return fmt.Sprintf("%s may not publish %s: %s scopes it to %s", s.who, t, s.setting, strings.Join(s.patterns, "|"))
}

// webhookFamily returns the pattern of WebhookTypes that t matches.
func webhookFamily(t string) (string, bool) {
	for _, w := range WebhookTypes {
		if events.MatchType(w, t) {
			return w, true
		}
	}
	return "", false
}

// namesFamily reports whether pattern p spells out the literal tokens of webhook
// pattern w (those before its first wildcard): "stripe.paid" and "stripe.>" name
// "stripe.>", "*.paid" and ">" do not.
func namesFamily(p, w string) bool {
	pt := strings.Split(p, ".")
	for i, tok := range strings.Split(w, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
		if i >= len(pt) || pt[i] != tok {
			return false
		}
	}
	return true
}

// eventsAuth decides who may publish what on POST /events.
type eventsAuth struct {
	sums   [][sha256.Size]byte // of the tokens, so comparing them takes the same time whatever their length
	scopes []scope             // of the tokens, in the same order
	open   bool
}

// newEventsAuth checks tokens. A token is never part of an error: errors name its
// position.
func newEventsAuth(tokens []EventsToken, open bool) (eventsAuth, error) {
	a := eventsAuth{open: open, sums: make([][sha256.Size]byte, len(tokens)), scopes: make([]scope, len(tokens))}
	seen := make(map[[sha256.Size]byte]int, len(tokens))
	for i, t := range tokens {
		if t.Token == "" {
			return a, fmt.Errorf("ingress: events token %d is empty", i+1)
		}
		a.sums[i] = sha256.Sum256([]byte(t.Token))
		if j, dup := seen[a.sums[i]]; dup {
			return a, fmt.Errorf("ingress: events tokens %d and %d are the same token: give it one scope", j+1, i+1)
		}
		seen[a.sums[i]] = i
		for _, p := range t.Types {
			if err := events.CheckPattern(p); err != nil {
				return a, fmt.Errorf("ingress: events token %d: %w", i+1, err)
			}
		}
		a.scopes[i] = scope{who: "this token", setting: "INGRESS_EVENTS_TOKENS"}
		if len(t.Types) > 0 {
			a.scopes[i].patterns = append([]string(nil), t.Types...)
		}
	}
	return a, nil
}

// authorize returns the scope of the caller whose Authorization header is header, or
// the answer that refuses it: 401 for a missing or wrong token, 403 when POST /events
// is closed (no tokens, not open).
//
// A request with a token must bear one of the tokens, open or not; one without a token
// gets the open scope when the endpoint is open.
func (a eventsAuth) authorize(header string) (scope, *answer) {
	if header != "" && len(a.sums) > 0 {
		if i, ok := bearerMatches(header, a.sums); ok {
			return a.scopes[i], nil
		}
		r := refuse(http.StatusUnauthorized, failure{Error: "wrong bearer token: send Authorization: Bearer <one of the tokens of INGRESS_EVENTS_TOKENS>"})
		return scope{}, &r
	}
	switch {
	case a.open:
		return scope{who: "a request without a token", setting: "INGRESS_EVENTS_OPEN"}, nil
	case len(a.sums) > 0:
		r := refuse(http.StatusUnauthorized, failure{Error: "missing bearer token: send Authorization: Bearer <one of the tokens of INGRESS_EVENTS_TOKENS>"})
		return scope{}, &r
	}
	r := refuse(http.StatusForbidden, failure{Error: "POST /events is closed: the bridge has no INGRESS_EVENTS_TOKENS; " +
		"set INGRESS_EVENTS_TOKENS (bearer tokens, each scoped to the event types it may publish), or INGRESS_EVENTS_OPEN=true on a development machine"})
	return scope{}, &r
}
