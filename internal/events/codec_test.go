package events_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// wantEvent is what a decoded event must hold. An empty DataContentType is not checked,
// nor are nil Extensions; an empty non-nil Extensions map means "none".
type wantEvent struct {
	ID, Type, Source, Subject string
	DataContentType           string
	Time                      time.Time
	Extensions                map[string]any
	Data                      string // JSON, compared as JSON
}

func requireEvent(t *testing.T, want wantEvent, got events.Event) {
	t.Helper()
	require.Equal(t, "1.0", got.SpecVersion(), "specversion: got %v, want 1.0", got.SpecVersion())
	require.Equal(t, want.ID, got.ID(), "id: got %v, want %v", got.ID(), want.ID)
	require.Equal(t, want.Type, got.Type(), "type: got %v, want %v", got.Type(), want.Type)
	require.Equal(t, want.Source, got.Source(), "source: got %v, want %v", got.Source(), want.Source)
	require.Equal(t, want.Subject, got.Subject(), "subject: got %v, want %v", got.Subject(), want.Subject)
	if want.DataContentType != "" {
		require.Equal(t, want.DataContentType, got.DataContentType(), "datacontenttype: got %v, want %v", got.DataContentType(), want.DataContentType)
	}
	if want.Time.IsZero() {
		require.True(t, got.Time().IsZero(), "time: got %v, want none", got.Time())
	} else {
		require.True(t, want.Time.Equal(got.Time()), "time: got %v, want %v", got.Time(), want.Time)
	}
	switch {
	case want.Extensions == nil:
	case len(want.Extensions) == 0:
		require.Empty(t, got.Extensions(), "extensions: got %v, want none", got.Extensions())
	default:
		require.Equal(t, want.Extensions, got.Extensions(), "extensions: got %v, want %v", got.Extensions(), want.Extensions)
	}
	if want.Data == "" {
		require.Empty(t, got.Data(), "data: got %s, want none", got.Data())
	} else {
		require.JSONEq(t, want.Data, string(got.Data()), "data: got %s, want %s", got.Data(), want.Data)
	}
}

func TestDecode(t *testing.T) {
	const structuredCT = "application/cloudevents+json"
	when := time.Date(2026, 5, 1, 12, 30, 45, 123456789, time.UTC)
	binary := func(extra map[string]string) nats.Header {
		h := nats.Header{}
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", "ev-1")
		h.Set("ce-type", "user.signedup")
		h.Set("ce-source", "/signup")
		for k, v := range extra {
			if v == "-" { // drop a header the base set
				delete(h, k)
				continue
			}
			h.Set(k, v)
		}
		return h
	}
	userData := `{"user_id":"u-1","email":"ada@example.com"}`

	tests := []struct {
		name    string
		header  nats.Header
		body    string
		want    wantEvent
		wantErr []string // substrings of the error; nil when decoding must succeed
	}{
		{
			name:   "structured with content type",
			header: nats.Header{"Content-Type": {structuredCT}},
			body: `{"specversion":"1.0","id":"ev-1","type":"user.signedup","source":"/signup","subject":"u-1",
				"time":"2026-05-01T12:30:45.123456789Z","datacontenttype":"application/json",
				"correlationid":"corr-1","data":` + userData + `}`,
			want: wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Subject: "u-1", Time: when,
				DataContentType: "application/json", Extensions: map[string]any{"correlationid": "corr-1"}, Data: userData},
		},
		{
			name:   "structured with charset parameter",
			header: nats.Header{"Content-Type": {structuredCT + "; charset=utf-8"}},
			body:   `{"specversion":"1.0","id":"ev-2","type":"email.verified","source":"/verify","data":{"user_id":"u-1"}}`,
			want:   wantEvent{ID: "ev-2", Type: "email.verified", Source: "/verify", Data: `{"user_id":"u-1"}`},
		},
		{
			name:   "structured content type in odd case header name",
			header: nats.Header{"content-type": {structuredCT}},
			body:   `{"specversion":"1.0","id":"ev-3","type":"email.verified","source":"/verify","data":{"user_id":"u-1"}}`,
			want:   wantEvent{ID: "ev-3", Type: "email.verified", Source: "/verify", Data: `{"user_id":"u-1"}`},
		},
		{
			name:   "structured without content type",
			header: nil,
			body:   `{"specversion":"1.0","id":"ev-4","type":"user.signedup","source":"nats-cli","data":` + userData + `}`,
			want:   wantEvent{ID: "ev-4", Type: "user.signedup", Source: "nats-cli", Data: userData},
		},
		{
			name:   "binary",
			header: binary(map[string]string{"Content-Type": "application/json"}),
			body:   userData,
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", DataContentType: "application/json", Data: userData},
		},
		{
			name: "binary with every attribute",
			header: binary(map[string]string{
				"ce-subject":         "u-1",
				"ce-time":            "2026-05-01T12:30:45.123456789Z",
				"ce-dataschema":      "https://flowbridge.local/schemas/user.signedup.json",
				"ce-datacontenttype": "application/json",
			}),
			body: userData,
			want: wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Subject: "u-1", Time: when,
				DataContentType: "application/json", Extensions: map[string]any{}, Data: userData},
		},
		{
			name: "binary headers in odd case",
			header: nats.Header{
				"Ce-Specversion": {"1.0"},
				"Ce-Id":          {"ev-5"},
				"CE-TYPE":        {"user.signedup"},
				"Ce-Source":      {"/signup"},
				"Ce-Subject":     {"u-1"},
				"CONTENT-TYPE":   {"application/json"},
			},
			body: userData,
			want: wantEvent{ID: "ev-5", Type: "user.signedup", Source: "/signup", Subject: "u-1", Data: userData},
		},
		{
			name: "binary with extensions",
			header: binary(map[string]string{
				"ce-correlationid": "corr-7",
				"Ce-CausationId":   "ev-0",
				"Content-Type":     "application/json",
			}),
			body: userData,
			want: wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup",
				Extensions: map[string]any{"correlationid": "corr-7", "causationid": "ev-0"}, Data: userData},
		},
		{
			name:   "binary time with offset",
			header: binary(map[string]string{"ce-time": "2026-05-01T14:30:45.123456789+02:00"}),
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Time: when},
		},
		{
			name:   "binary time without fraction",
			header: binary(map[string]string{"ce-time": "2026-05-01T12:30:45Z"}),
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Time: when.Truncate(time.Second)},
		},
		{
			name:   "binary data without any content type",
			header: binary(nil),
			body:   userData,
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Data: userData},
		},
		{
			name:   "binary without data",
			header: binary(nil),
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup"},
		},
		{
			name:   "binary wins over a structured body when ce-specversion is set",
			header: binary(map[string]string{"Content-Type": structuredCT}),
			body:   `{"specversion":"1.0","id":"other","type":"other.type","source":"/other"}`,
			want:   wantEvent{ID: "ev-1", Type: "user.signedup", Source: "/signup", Data: `{"specversion":"1.0","id":"other","type":"other.type","source":"/other"}`},
		},

		{
			name:    "structured missing id",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"1.0","type":"user.signedup","source":"/signup"}`,
			wantErr: []string{"id"},
		},
		{
			name:    "structured missing source",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"1.0","id":"ev-1","type":"user.signedup"}`,
			wantErr: []string{"source"},
		},
		{
			name:    "structured missing type",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"1.0","id":"ev-1","source":"/signup"}`,
			wantErr: []string{"type"},
		},
		{
			name:    "structured unknown specversion",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"2.0","id":"ev-1","type":"user.signedup","source":"/signup"}`,
			wantErr: []string{"specversion", "2.0"},
		},
		{
			name:    "structured specversion 0.3",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"0.3","id":"ev-1","type":"user.signedup","source":"/signup"}`,
			wantErr: []string{`specversion "0.3" is not supported`},
		},
		{
			name:    "structured garbage",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    "\x00\xffnot json",
			wantErr: []string{"structured body is not a CloudEvent"},
		},
		{
			name:    "structured type with space",
			header:  nats.Header{"Content-Type": {structuredCT}},
			body:    `{"specversion":"1.0","id":"ev-1","type":"user signedup","source":"/signup"}`,
			wantErr: []string{`type "user signedup" is not a valid subject token sequence`},
		},
		{
			name:    "garbage without headers",
			header:  nil,
			body:    "\x00\xffnot json",
			wantErr: []string{"no ce-specversion header and not a structured event"},
		},
		{
			name:    "JSON without specversion or headers",
			header:  nil,
			body:    `{"id":"ev-1","type":"user.signedup","source":"/signup"}`,
			wantErr: []string{"no ce-specversion header"},
		},
		{
			name:    "plain JSON content type is not structured",
			header:  nats.Header{"Content-Type": {"application/json"}},
			body:    `{"specversion":"1.0","id":"ev-1","type":"user.signedup","source":"/signup"}`,
			wantErr: []string{"no ce-specversion header", "application/json"},
		},
		{
			name:    "binary missing id",
			header:  binary(map[string]string{"ce-id": "-"}),
			wantErr: []string{"id"},
		},
		{
			name:    "binary empty id",
			header:  binary(map[string]string{"ce-id": ""}),
			wantErr: []string{"id"},
		},
		{
			name:    "binary missing source",
			header:  binary(map[string]string{"ce-source": "-"}),
			wantErr: []string{"source"},
		},
		{
			name:    "binary missing type",
			header:  binary(map[string]string{"ce-type": "-"}),
			wantErr: []string{"type"},
		},
		{
			name:    "binary unsupported specversion",
			header:  binary(map[string]string{"ce-specversion": "0.3"}),
			wantErr: []string{`specversion "0.3" is not supported (want 1.0)`},
		},
		{
			name:    "binary type with space",
			header:  binary(map[string]string{"ce-type": "user signedup"}),
			wantErr: []string{`type "user signedup" is not a valid subject token sequence`},
		},
		{
			name:    "binary type with star",
			header:  binary(map[string]string{"ce-type": "user.*"}),
			wantErr: []string{`type "user.*" is not a valid subject token sequence`},
		},
		{
			name:    "binary type with greater than",
			header:  binary(map[string]string{"ce-type": "user.>"}),
			wantErr: []string{`type "user.>" is not a valid subject token sequence`},
		},
		{
			name:    "binary type with empty token",
			header:  binary(map[string]string{"ce-type": "user..signedup"}),
			wantErr: []string{"is not a valid subject token sequence"},
		},
		{
			name:    "binary bad time",
			header:  binary(map[string]string{"ce-time": "yesterday"}),
			wantErr: []string{"ce-time", `time "yesterday" is not RFC 3339`},
		},
		{
			name:    "binary time without zone",
			header:  binary(map[string]string{"ce-time": "2026-05-01T12:30:45"}),
			wantErr: []string{"ce-time", "is not RFC 3339"},
		},
		{
			name:    "binary empty time",
			header:  binary(map[string]string{"ce-time": ""}),
			wantErr: []string{"ce-time", `time "" is not RFC 3339`},
		},
		{
			name:    "binary invalid extension name",
			header:  binary(map[string]string{"ce-my_ext": "x"}),
			wantErr: []string{"my_ext"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.Decode(tt.header, []byte(tt.body))
			if tt.wantErr == nil {
				require.NoError(t, err)
				requireEvent(t, tt.want, got)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
			for _, s := range tt.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func newEvent(t *testing.T, id, typ, source string, data any) events.Event {
	t.Helper()
	ev := cloudevents.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	if data != nil {
		require.NoError(t, ev.SetData("application/json", data))
	}
	return ev
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)

	tests := []struct {
		name  string
		event func(t *testing.T) events.Event
	}{
		{
			name:  "minimal",
			event: func(t *testing.T) events.Event { return newEvent(t, "ev-min", "ping", "/test", nil) },
		},
		{
			name: "every attribute",
			event: func(t *testing.T) events.Event {
				ev := newEvent(t, "ev-full", "user.signedup", "/signup", map[string]any{"user_id": "u-1", "email": "ada@example.com"})
				ev.SetSubject("onboarding-u-1")
				ev.SetTime(time.Date(2026, 5, 1, 14, 30, 45, 123456789, paris))
				ev.SetDataSchema("https://flowbridge.local/schemas/user.signedup.json")
				ev.SetExtension(events.ExtCorrelationID, "corr-1")
				ev.SetExtension(events.ExtCausationID, "ev-0")
				return ev
			},
		},
		{
			name: "result event with nested data",
			event: func(t *testing.T) events.Event {
				ev := newEvent(t, "payment-pi_1/recorded", "payment.recorded", "flowbridge/worker",
					map[string]any{"payment_id": "pi_1", "amount": 4200, "line_items": []any{map[string]any{"description": "seat", "quantity": 3}}})
				ev.SetSubject("payment-pi_1")
				ev.SetTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				return ev
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.event(t)
			m, err := events.Encode(ev)
			require.NoError(t, err)

			wantSubject := "events." + ev.Type()
			require.Equal(t, wantSubject, m.Subject, "subject: got %v, want %v", m.Subject, wantSubject)
			require.Equal(t, ev.ID(), m.Header.Get("Nats-Msg-Id"), "Nats-Msg-Id: got %v, want %v", m.Header.Get("Nats-Msg-Id"), ev.ID())
			require.Equal(t, "1.0", m.Header.Get("ce-specversion"))

			got, err := events.Decode(m.Header, m.Data)
			require.NoError(t, err)
			want := wantEvent{
				ID: ev.ID(), Type: ev.Type(), Source: ev.Source(), Subject: ev.Subject(), Time: ev.Time(),
				DataContentType: ev.DataContentType(), Extensions: ev.Extensions(), Data: string(ev.Data()),
			}
			if want.Extensions == nil {
				want.Extensions = map[string]any{}
			}
			requireEvent(t, want, got)
			require.Equal(t, ev.DataSchema(), got.DataSchema(), "dataschema: got %v, want %v", got.DataSchema(), ev.DataSchema())
			require.Equal(t, events.CorrelationID(ev), events.CorrelationID(got))
		})
	}
}

func TestEncodeRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name    string
		event   func(t *testing.T) events.Event
		wantErr string
	}{
		{name: "missing id", event: func(t *testing.T) events.Event { return newEvent(t, "", "user.signedup", "/s", nil) }, wantErr: "id"},
		{name: "missing source", event: func(t *testing.T) events.Event { return newEvent(t, "ev-1", "user.signedup", "", nil) }, wantErr: "source"},
		{name: "missing type", event: func(t *testing.T) events.Event { return newEvent(t, "ev-1", "", "/s", nil) }, wantErr: "type"},
		{name: "wildcard type", event: func(t *testing.T) events.Event { return newEvent(t, "ev-1", "user.>", "/s", nil) }, wantErr: "not a valid subject token sequence"},
		{name: "zero event", event: func(t *testing.T) events.Event { return events.Event{} }, wantErr: "specversion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := events.Encode(tt.event(t))
			require.Error(t, err)
			require.Nil(t, m, "got message %v, want none", m)
			require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestEncodeDataIsTheBody(t *testing.T) {
	data := map[string]any{"user_id": "u-1"}
	ev := newEvent(t, "ev-1", "email.verified", "/verify", data)
	m, err := events.Encode(ev)
	require.NoError(t, err)
	want, err := json.Marshal(data)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(m.Data))
	require.Equal(t, "application/json", m.Header.Get("Content-Type"))
	require.Equal(t, "application/json", m.Header.Get("ce-datacontenttype"))
}
