package events_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// requireAttributeError fails unless err is an *events.AttributeError for attr that wraps
// ErrMalformed and says each of want; its message must be printable and short, since it
// ends up in a Flowbridge-Error header and an HTTP answer.
func requireAttributeError(t *testing.T, err error, attr string, want ...string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
	var ae *events.AttributeError
	require.True(t, errors.As(err, &ae), "got %T %v, want an *events.AttributeError", err, err)
	require.Equal(t, attr, ae.Attribute, "attribute: got %v, want %v (%v)", ae.Attribute, attr, err)
	for _, w := range want {
		require.Contains(t, err.Error(), w)
	}
	msg := err.Error()
	require.Less(t, len(msg), 400, "got a %d-byte message, want it short: %s", len(msg), msg)
	for _, r := range msg {
		require.True(t, r >= ' ' && r < 0x7f || r > 0x9f, "message has the control character %U: %q", r, msg)
	}
}

func TestCheckTypeBounds(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		wantErr   string // "" when the type is valid
	}{
		{name: "upper case", eventType: "Order.Created"},
		{name: "digits", eventType: "v1.billing.meter.error_report_triggered"},
		{name: "github event", eventType: "github.pull_request_review_comment"},
		{name: "255 bytes", eventType: strings.Repeat("a", 255)},
		{name: "256 bytes", eventType: strings.Repeat("a", 256), wantErr: "is 256 bytes long: at most 255 are allowed"},
		{name: "5000 bytes", eventType: "user." + strings.Repeat("x", 4995), wantErr: "is 5000 bytes long"},
		{name: "NUL", eventType: "user.sign\x00edup", wantErr: `type "user.sign\x00edup" is not a valid subject token sequence`},
		{name: "invalid UTF-8", eventType: "user.\xff", wantErr: "is not a valid subject token sequence"},
		{name: "non-ASCII letter", eventType: "café.ordered", wantErr: "is not a valid subject token sequence"},
		{name: "colon", eventType: "user:signedup", wantErr: "is not a valid subject token sequence"},
		{name: "slash", eventType: "user/signedup", wantErr: "is not a valid subject token sequence"},
		{name: "dollar", eventType: "$JS.API", wantErr: "is not a valid subject token sequence"},
		{name: "DEL", eventType: "user\x7f", wantErr: "is not a valid subject token sequence"},
		{name: "non-breaking space", eventType: "user\u00a0signedup", wantErr: "is not a valid subject token sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.CheckType(tt.eventType)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			requireAttributeError(t, err, "type", tt.wantErr)
		})
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantErr string // "" when the id is valid
	}{
		{name: "stripe", id: "evt_1PqRsT2eZvKYlo2C"},
		{name: "uuid", id: "9f3c1d3e-8a44-4c1b-9a5e-0d7c2f1a6b55"},
		{name: "result event", id: "payment-pi_1/payment.recorded"},
		{name: "inner space and unicode", id: "commande n° 42 — café"},
		{name: "256 bytes", id: strings.Repeat("i", 256)},
		{name: "empty", id: "", wantErr: "id is empty"},
		{name: "257 bytes", id: strings.Repeat("i", 257), wantErr: "is 257 bytes long: at most 256 are allowed"},
		{name: "256 characters of 2 bytes", id: strings.Repeat("é", 256), wantErr: "is 512 bytes long"},
		{name: "NUL", id: "ev\x00-1", wantErr: `id "ev\x00-1" has the non-printable character U+0000 at byte 2`},
		{name: "newline", id: "ev-1\n", wantErr: "U+000A"},
		{name: "tab", id: "ev\t1", wantErr: "U+0009"},
		{name: "DEL", id: "ev\x7f", wantErr: "U+007F"},
		{name: "C1 control", id: "ev\u0085", wantErr: "U+0085"},
		{name: "zero-width space", id: "ev\u200b1", wantErr: "U+200B"},
		{name: "right-to-left override", id: "ev\u202e1", wantErr: "U+202E"},
		{name: "line separator", id: "ev\u20281", wantErr: "U+2028"},
		{name: "invalid UTF-8", id: "ev-\xff\xfe", wantErr: `id "ev-\xff\xfe" is not valid UTF-8`},
		{name: "leading space", id: " ev-1", wantErr: "leading or trailing spaces"},
		{name: "trailing space", id: "ev-1 ", wantErr: "leading or trailing spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.CheckID(tt.id)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			requireAttributeError(t, err, "id", tt.wantErr)
		})
	}
}

func TestCheckAttributes(t *testing.T) {
	base := func() events.Event {
		ev := cloudevents.New()
		ev.SetID("ev-1")
		ev.SetType("user.signedup")
		ev.SetSource("/signup")
		return ev
	}
	tooMany := func(ev *events.Event, n int) {
		for i := range n {
			ev.SetExtension("ext"+strconv.Itoa(i), "v")
		}
	}
	tests := []struct {
		name     string
		mutate   func(ev *events.Event)
		wantAttr string // "" when the event is within bounds
		wantErr  string
	}{
		{name: "minimal", mutate: func(*events.Event) {}},
		{
			name: "every attribute at its bound",
			mutate: func(ev *events.Event) {
				ev.SetID(strings.Repeat("i", 256))
				ev.SetType(strings.Repeat("t", 255))
				ev.SetSource("/" + strings.Repeat("s", 1023))
				ev.SetSubject(strings.Repeat("é", 512))
				ev.SetDataSchema("https://example.com/" + strings.Repeat("d", 1004))
				ev.SetDataContentType("application/json; profile=" + strings.Repeat("p", 998))
				ev.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
				ev.SetExtension(strings.Repeat("n", 64), strings.Repeat("v", 1024))
				ev.SetExtension("attempt", 3)
				ev.SetExtension("urgent", true)
				tooMany(ev, 28)
			},
		},
		{name: "id with NUL", mutate: func(ev *events.Event) { ev.SetID("a\x00b") }, wantAttr: "id", wantErr: "U+0000"},
		{name: "source of 1025 bytes", mutate: func(ev *events.Event) { ev.SetSource("/" + strings.Repeat("s", 1024)) }, wantAttr: "source", wantErr: "is 1025 bytes long: at most 1024"},
		{name: "source with invalid UTF-8 in its query", mutate: func(ev *events.Event) { ev.SetSource("/signup?\xff") }, wantAttr: "source", wantErr: "not valid UTF-8"},
		{name: "source with a C1 control in its query", mutate: func(ev *events.Event) { ev.SetSource("/signup?\u0085") }, wantAttr: "source", wantErr: "U+0085"},
		{name: "type of 5000 bytes", mutate: func(ev *events.Event) { ev.SetType(strings.Repeat("x", 5000)) }, wantAttr: "type", wantErr: "5000 bytes"},
		{name: "subject with a newline", mutate: func(ev *events.Event) { ev.SetSubject("u-1\nX-Injected: yes") }, wantAttr: "subject", wantErr: "U+000A"},
		{name: "subject with invalid UTF-8", mutate: func(ev *events.Event) { ev.SetSubject("u-\xc3") }, wantAttr: "subject", wantErr: "not valid UTF-8"},
		{name: "subject of 1025 bytes", mutate: func(ev *events.Event) { ev.SetSubject(strings.Repeat("s", 1025)) }, wantAttr: "subject", wantErr: "1025 bytes"},
		{name: "dataschema of 2000 bytes", mutate: func(ev *events.Event) { ev.SetDataSchema("https://example.com/" + strings.Repeat("d", 1980)) }, wantAttr: "dataschema", wantErr: "2000 bytes"},
		{name: "datacontenttype with a control character", mutate: func(ev *events.Event) { ev.SetDataContentType(`application/json; x="a` + "\x01" + `b"`) }, wantAttr: "datacontenttype", wantErr: "U+0001"},
		{name: "extension with invalid UTF-8", mutate: func(ev *events.Event) { ev.SetExtension("tenantid", "acme\xff") }, wantAttr: "tenantid", wantErr: `extension tenantid "acme\xff" is not valid UTF-8`},
		{name: "extension with NUL", mutate: func(ev *events.Event) { ev.SetExtension("tenantid", "ac\x00me") }, wantAttr: "tenantid", wantErr: "U+0000"},
		{name: "extension of 1025 bytes", mutate: func(ev *events.Event) { ev.SetExtension("note", strings.Repeat("n", 1025)) }, wantAttr: "note", wantErr: "1025 bytes"},
		{name: "binary extension over the bound once encoded", mutate: func(ev *events.Event) { ev.SetExtension("blob", make([]byte, 800)) }, wantAttr: "blob", wantErr: "1068 bytes"},
		{name: "extension name of 65 bytes", mutate: func(ev *events.Event) { ev.SetExtension(strings.Repeat("n", 65), "v") }, wantAttr: strings.Repeat("n", 65), wantErr: "at most 64"},
		{name: "33 extensions", mutate: func(ev *events.Event) { tooMany(ev, 33) }, wantAttr: "extensions", wantErr: "the event has 33, at most 32"},
		{
			name: "first attribute at fault is named",
			mutate: func(ev *events.Event) {
				ev.SetID("a\x00b")
				ev.SetType(strings.Repeat("x", 5000))
			},
			wantAttr: "id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base()
			tt.mutate(&ev)
			require.NoError(t, ev.Validate(), "the SDK must take the event: only CheckAttributes is under test")
			err := events.CheckAttributes(ev)
			if tt.wantAttr == "" {
				require.NoError(t, err)
				return
			}
			requireAttributeError(t, err, tt.wantAttr, tt.wantErr)
		})
	}
}

// Every door refuses what CheckAttributes refuses: Decode (both content modes) and Encode.
func TestDecodeAndEncodeHoldTheBounds(t *testing.T) {
	long := "user." + strings.Repeat("x", 4995)
	binary := func(extra map[string]string) nats.Header {
		h := nats.Header{}
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", "ev-1")
		h.Set("ce-type", "user.signedup")
		h.Set("ce-source", "/signup")
		for k, v := range extra {
			h.Set(k, v)
		}
		return h
	}
	structuredCT := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	structured := func(attrs string) string {
		return `{"specversion":"1.0","source":"/signup",` + attrs + `"data":{}}`
	}
	tests := []struct {
		name     string
		header   nats.Header
		body     string
		wantAttr string
		wantErr  string
	}{
		{name: "binary type of 5000 bytes", header: binary(map[string]string{"ce-type": long}), wantAttr: "type", wantErr: "5000 bytes long"},
		{name: "binary id with NUL", header: binary(map[string]string{"ce-id": "ev\x00-1"}), wantAttr: "id", wantErr: "U+0000"},
		{name: "binary id of 257 bytes", header: binary(map[string]string{"ce-id": strings.Repeat("i", 257)}), wantAttr: "id", wantErr: "257 bytes"},
		{name: "binary source of 1025 bytes", header: binary(map[string]string{"ce-source": "/" + strings.Repeat("s", 1024)}), wantAttr: "source", wantErr: "1025 bytes"},
		{name: "binary subject with invalid UTF-8", header: binary(map[string]string{"ce-subject": "u-\xff"}), wantAttr: "subject", wantErr: "not valid UTF-8"},
		{name: "binary extension with invalid UTF-8", header: binary(map[string]string{"ce-tenantid": "acme\xff"}), wantAttr: "tenantid", wantErr: "not valid UTF-8"},
		{name: "binary Content-Type with a control character", header: binary(map[string]string{"Content-Type": "application/json; x=\"a\u0085b\""}), wantAttr: "datacontenttype", wantErr: "U+0085"},
		{
			name: "binary attribute given twice",
			header: func() nats.Header {
				h := binary(nil)
				h["CE-TYPE"] = []string{"email.verified"}
				return h
			}(),
			wantAttr: "type", wantErr: "is given by two headers",
		},
		{name: "structured type of 5000 bytes", header: structuredCT, body: structured(`"id":"ev-1","type":"` + long + `",`), wantAttr: "type", wantErr: "5000 bytes long"},
		{name: "structured id with NUL", header: structuredCT, body: structured(`"id":"ev\u0000-1","type":"user.signedup",`), wantAttr: "id", wantErr: "U+0000"},
		{name: "structured id with invalid UTF-8", header: structuredCT, body: structured("\"id\":\"ev-\xff\",\"type\":\"user.signedup\","), wantAttr: "id", wantErr: "not valid UTF-8"},
		{name: "structured extension with a newline", header: structuredCT, body: structured(`"id":"ev-1","type":"user.signedup","tenantid":"ac\nme",`), wantAttr: "tenantid", wantErr: "U+000A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Decode(tt.header, []byte(tt.body))
			requireAttributeError(t, err, tt.wantAttr, tt.wantErr)
		})
	}

	encode := []struct {
		name     string
		mutate   func(ev *events.Event)
		wantAttr string
	}{
		{name: "type of 5000 bytes", mutate: func(ev *events.Event) { ev.SetType(long) }, wantAttr: "type"},
		{name: "id with NUL", mutate: func(ev *events.Event) { ev.SetID("ev\x00") }, wantAttr: "id"},
		{name: "extension with CR LF", mutate: func(ev *events.Event) { ev.SetExtension("tenantid", "a\r\nNats-Msg-Id: x") }, wantAttr: "tenantid"},
	}
	for _, tt := range encode {
		t.Run("encode "+tt.name, func(t *testing.T) {
			ev := newEvent(t, "ev-1", "user.signedup", "/signup", nil)
			tt.mutate(&ev)
			m, err := events.Encode(ev)
			require.Nil(t, m, "got message %v, want none", m)
			requireAttributeError(t, err, tt.wantAttr)
		})
	}
}

// Decode's errors quote what they refuse, and end up in a Flowbridge-Error header, the
// logs and the ledger: whatever the message held, they are valid UTF-8 without control
// characters, and short.
func TestDecodeErrorsArePrintable(t *testing.T) {
	junk := "\x00\xff\x85\r\n" + strings.Repeat("j", 5000)
	binary := func(k, v string) nats.Header {
		h := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"ev-1"}, "ce-type": {"user.signedup"}, "ce-source": {"/signup"}}
		h[k] = []string{v}
		return h
	}
	structured := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	tests := []struct {
		name   string
		header nats.Header
		body   string
	}{
		{name: "Content-Type of junk without ce- headers", header: nats.Header{"Content-Type": {junk}}, body: "x"},
		{name: "specversion of junk", header: nats.Header{"ce-specversion": {junk}}},
		{name: "time of junk", header: binary("ce-time", junk)},
		{name: "extension name of junk", header: binary("ce-t\xff\x01x", "v")},
		{name: "structured junk", header: structured, body: junk},
		{name: "structured specversion of junk", header: structured, body: `{"specversion":"` + strings.Repeat("9", 5000) + "\xff" + `","id":"e","type":"t","source":"/s"}`},
		{name: "structured extension name of junk", header: structured, body: `{"specversion":"1.0","id":"e","type":"t","source":"/s","x` + "\xff\x01" + strings.Repeat("y", 3000) + `":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Decode(tt.header, []byte(tt.body))
			require.Error(t, err)
			require.True(t, errors.Is(err, events.ErrMalformed), "got %v, want it to wrap ErrMalformed", err)
			msg := err.Error()
			require.True(t, utf8.ValidString(msg), "message is not UTF-8: %q", msg)
			require.Less(t, len(msg), 700, "got a %d-byte message, want it short: %q", len(msg), msg)
			for _, r := range msg {
				require.False(t, unicode.IsControl(r), "message has the control character %U: %q", r, msg)
			}
		})
	}
}
