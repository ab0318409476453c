package events_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

func TestCheckPattern(t *testing.T) {
	for _, p := range []string{"user.signedup", "user.>", "*.verified", ">", "stripe.*.created"} {
		require.NoError(t, events.CheckPattern(p), p)
	}
	for _, p := range []string{"", "user.>.x", "user.sign*", "user..x", "user signed", "a.>b"} {
		require.ErrorIs(t, events.CheckPattern(p), events.ErrMalformed, "%q", p)
	}
}

func TestMatchType(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"user.signedup", "user.signedup", true},
		{"user.signedup", "user.signedup.x", false},
		{"user.>", "user.signedup", true},
		{"user.>", "user", false},
		{"stripe.>", "stripe.checkout.session.completed", true},
		{"*.paid", "stripe.paid", true},
		{"*.paid", "a.b.paid", false},
		{">", "anything.at.all", true},
	}
	for _, tt := range tests {
		got := events.MatchType(tt.pattern, tt.typ)
		require.Equal(t, tt.want, got, "MatchType(%q, %q): got %v, want %v", tt.pattern, tt.typ, got, tt.want)
	}
}
