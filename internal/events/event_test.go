package events_test

import (
	"errors"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		want      string
	}{
		{name: "one token", eventType: "ping", want: "events.ping"},
		{name: "contract example", eventType: "user.signedup", want: "events.user.signedup"},
		{name: "three tokens", eventType: "connector.sync.requested", want: "events.connector.sync.requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := events.Subject(tt.eventType)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestDLQSubject(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		want      string
	}{
		{name: "known type", eventType: "user.signedup", want: "dlq.events.user.signedup"},
		{name: "three tokens", eventType: "connector.sync.requested", want: "dlq.events.connector.sync.requested"},
		{name: "type nobody routes", eventType: "stripe.charge.refunded", want: "dlq.events.stripe.charge.refunded"},
		{name: "empty type", eventType: "", want: "dlq.events.unknown"},
		{name: "type with space", eventType: "user signedup", want: "dlq.events.unknown"},
		{name: "type with wildcard", eventType: "user.*", want: "dlq.events.unknown"},
		{name: "type with full wildcard", eventType: "user.>", want: "dlq.events.unknown"},
		{name: "empty token", eventType: "user..signedup", want: "dlq.events.unknown"},
		{name: "type at the length bound", eventType: strings.Repeat("t", 255), want: "dlq.events." + strings.Repeat("t", 255)},
		{name: "type of 5000 bytes", eventType: strings.Repeat("t", 5000), want: "dlq.events.unknown"},
		{name: "type with NUL", eventType: "user.\x00", want: "dlq.events.unknown"},
		{name: "type with invalid UTF-8", eventType: "user.\xff", want: "dlq.events.unknown"},
		{name: "type with a non-ASCII letter", eventType: "café.ordered", want: "dlq.events.unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := events.DLQSubject(tt.eventType)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}

func TestCheckType(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		wantErr   string // "" when the type is valid
	}{
		{name: "single token", eventType: "ping"},
		{name: "contract type", eventType: "user.signedup"},
		{name: "three tokens", eventType: "connector.sync.requested"},
		{name: "underscore and dash", eventType: "email.verification_sent.v-2"},
		{name: "stripe passthrough", eventType: "stripe.checkout.session.expired"},
		{name: "empty", eventType: "", wantErr: "type is empty"},
		{name: "space", eventType: "user signedup", wantErr: `type "user signedup" is not a valid subject token sequence`},
		{name: "tab", eventType: "user\tsignedup", wantErr: "is not a valid subject token sequence"},
		{name: "newline", eventType: "user.signedup\n", wantErr: "is not a valid subject token sequence"},
		{name: "star token", eventType: "user.*", wantErr: `type "user.*" is not a valid subject token sequence`},
		{name: "star inside token", eventType: "us*er.signedup", wantErr: "is not a valid subject token sequence"},
		{name: "greater than", eventType: "user.>", wantErr: `type "user.>" is not a valid subject token sequence`},
		{name: "leading dot", eventType: ".user", wantErr: "is not a valid subject token sequence"},
		{name: "trailing dot", eventType: "user.", wantErr: "is not a valid subject token sequence"},
		{name: "double dot", eventType: "user..signedup", wantErr: "is not a valid subject token sequence"},
		{name: "only a dot", eventType: ".", wantErr: "is not a valid subject token sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.CheckType(tt.eventType)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestCorrelationID(t *testing.T) {
	tests := []struct {
		name string
		ext  any // correlationid extension; nil leaves it unset
		want string
	}{
		{name: "start of a chain uses the event id", ext: nil, want: "ev-1"},
		{name: "extension wins", ext: "corr-9", want: "corr-9"},
		{name: "empty extension falls back to the id", ext: "", want: "ev-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := cloudevents.New()
			ev.SetID("ev-1")
			if tt.ext != nil {
				ev.SetExtension(events.ExtCorrelationID, tt.ext)
			}
			got := events.CorrelationID(ev)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}
