package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/flowbridge/flowbridge/internal/events"
)

// parseHeaders reads "Name: value" lines into NATS headers, as a fuzz input cannot be a
// map. A line without ": " is a name with an empty value.
func parseHeaders(s string) nats.Header {
	h := nats.Header{}
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		h[k] = append(h[k], v)
	}
	return h
}

// FuzzDecode feeds the NATS binding both content modes: Decode must never panic, every
// refusal must wrap ErrMalformed, and an event it accepts must hold every bound and
// survive Encode and Decode again with its attributes intact — so nothing that gets past
// the consumer's door can put an invalid subject or header on the wire.
func FuzzDecode(f *testing.F) {
	seeds := []struct{ headers, body string }{
		{"ce-specversion: 1.0\nce-id: e-1\nce-type: user.signedup\nce-source: /tests\nContent-Type: application/json", `{"user_id":"u1","email":"a@example.com"}`},
		{"Content-Type: application/cloudevents+json", `{"specversion":"1.0","id":"e-2","type":"email.verified","source":"/tests","data":{"user_id":"u1"}}`},
		{"", `{"specversion":"1.0","id":"e-3","type":"a.b","source":"/x","data_base64":"AAEC"}`},
		{"ce-specversion: 1.0\nce-id: e-4\nce-type: a.b\nce-source: /x\nce-time: 2026-01-02T03:04:05Z\nce-correlationid: c-1", ``},
		{"ce-specversion: 1.0\nce-id: e\x00\nce-type: " + strings.Repeat("t", 300) + "\nce-source: /x", `{}`},
		{"ce-specversion: 1.0\nCE-ID: a\nce-id: b\nce-type: a.b\nce-source: /x", `{}`},
		{"ce-specversion: 0.3\nce-id: e\nce-type: a.b\nce-source: /x", `{}`},
		{"Content-Type: application/cloudevents+json", `{"specversion":"1.0","id":"e","type":"a..b","source":"/x"}`},
		{"Content-Type: application/cloudevents+json; charset=utf-8", `[1,2,3]`},
		{"ce-specversion: 1.0\nce-id: e\nce-type: a.b\nce-source: /x\nce-Bad Name: v\nce-time: yesterday", "\xff\xfe"},
	}
	for _, s := range seeds {
		f.Add(s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		ev, err := events.Decode(parseHeaders(headers), body)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Decode refused with an error that is not ErrMalformed: %v", err)
			}
			return
		}
		if err := events.CheckAttributes(ev); err != nil {
			t.Fatalf("Decode accepted an event out of bounds: %v", err)
		}
		m, err := events.Encode(ev)
		if err != nil {
			t.Fatalf("Decode accepted what Encode refuses: %v", err)
		}
		if m.Subject != events.Subject(ev.Type()) || strings.ContainsAny(m.Subject, " \t\r\n*>") || len(m.Subject) > 4096 {
			t.Fatalf("Encode made subject %q for type %q", m.Subject, ev.Type())
		}
		again, err := events.Decode(m.Header, m.Data)
		if err != nil {
			t.Fatalf("Decode refused what Encode made of an event it accepted: %v", err)
		}
		if again.ID() != ev.ID() || again.Type() != ev.Type() || again.Source() != ev.Source() || again.Subject() != ev.Subject() {
			t.Fatalf("round trip changed the event: got id %q type %q source %q subject %q, want %q %q %q %q",
				again.ID(), again.Type(), again.Source(), again.Subject(), ev.ID(), ev.Type(), ev.Source(), ev.Subject())
		}
	})
}
