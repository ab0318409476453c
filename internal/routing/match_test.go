package routing

import (
	"strings"
	"testing"

	"github.com/flowbridge/flowbridge/internal/events"
)

// splitMatch is events.MatchType as it was written first, with strings.Split: the reference the
// allocation-free one must agree with.
func splitMatch(p, t string) bool {
	pt, tt := strings.Split(p, "."), strings.Split(t, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || (tok != "*" && tok != tt[i]) {
			return false
		}
	}
	return len(pt) == len(tt)
}

func TestMatchType(t *testing.T) {
	patterns := []string{"a", "a.b", "a.*", "*.b", "*", ">", "a.>", "a.*.c", "a.b.>", "*.*", "b"}
	types := []string{"a", "b", "a.b", "a.c", "b.b", "a.b.c", "a.x.c", "a.b.c.d", "ab", "a.bc"}
	for _, p := range patterns {
		for _, typ := range types {
			if got, want := events.MatchType(p, typ), splitMatch(p, typ); got != want {
				t.Errorf("events.MatchType(%q, %q): got %v, want %v", p, typ, got, want)
			}
		}
	}
}

func FuzzMatchType(f *testing.F) {
	f.Add("a.*.>", "a.b.c")
	f.Fuzz(func(t *testing.T, p, typ string) {
		if got, want := events.MatchType(p, typ), splitMatch(p, typ); got != want {
			t.Errorf("events.MatchType(%q, %q): got %v, want %v", p, typ, got, want)
		}
	})
}
