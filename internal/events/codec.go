package events

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

const (
	contentTypeStructured = "application/cloudevents+json"
	contentTypeJSON       = "application/json"
	headerContentType     = "Content-Type"
	cePrefix              = "ce-"
)

// Decode reads a CloudEvent from a NATS message in either content mode: structured
// (Content-Type application/cloudevents+json, the event as JSON in the body) or binary
// (attributes in ce-* headers, data in the body), and holds it to CloudEvents 1.0 and
// CheckAttributes. Errors wrap ErrMalformed and say what is wrong; one that is out of
// CheckAttributes' bounds is an *AttributeError naming the attribute.
func Decode(h nats.Header, body []byte) (Event, error) {
	ct := HeaderValue(h, headerContentType)
	if HeaderValue(h, "ce-specversion") == "" && isStructured(ct, body) {
		return decodeStructured(body)
	}
	return decodeBinary(h, body, ct)
}

func isStructured(contentType string, body []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt == contentTypeStructured
	}
	// No usable Content-Type and no ce- headers: a JSON object carrying specversion is a
	// structured event from a publisher that did not set the header (the nats CLI, say).
	var probe struct {
		SpecVersion string `json:"specversion"`
	}
	return contentType == "" && json.Unmarshal(body, &probe) == nil && probe.SpecVersion != ""
}

func decodeStructured(body []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: structured body is not a CloudEvent: %s", ErrMalformed, Printable(err.Error()))
	}
	return ev, validate(ev)
}

func decodeBinary(h nats.Header, body []byte, contentType string) (Event, error) {
	spec := HeaderValue(h, "ce-specversion")
	if spec == "" {
		return Event{}, fmt.Errorf("%w: no ce-specversion header and not a structured event (Content-Type %s)", ErrMalformed, quote(contentType))
	}
	if spec != "1.0" {
		return Event{}, fmt.Errorf("%w: specversion %s is not supported (want 1.0)", ErrMalformed, quote(spec))
	}
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	seen := make(map[string]string, len(h))
	for k, vs := range h {
		name := strings.ToLower(k)
		if !strings.HasPrefix(name, cePrefix) || len(vs) == 0 {
			continue
		}
		attr := strings.TrimPrefix(name, cePrefix)
		if other, ok := seen[attr]; ok {
			// Which one would win depends on map order: refuse rather than guess.
			return Event{}, &AttributeError{Attribute: attr, Reason: fmt.Sprintf("%s is given by two headers, %s and %s: send it once", attr, quote(other), quote(k))}
		}
		seen[attr] = k
		if err := CheckRawAttribute(attr, vs[0]); err != nil {
			return Event{}, err
		}
		if err := setAttribute(&ev, attr, vs[0]); err != nil {
			return Event{}, fmt.Errorf("%w: header %s: %s", ErrMalformed, Printable(k), Printable(err.Error()))
		}
	}
	dct := ev.DataContentType()
	if dct == "" {
		dct = contentType
		if dct != "" {
			ev.SetDataContentType(dct)
		}
	}
	if len(body) > 0 {
		if err := ev.SetData(dataMediaType(dct), body); err != nil {
			return Event{}, fmt.Errorf("%w: data: %s", ErrMalformed, Printable(err.Error()))
		}
	}
	return ev, validate(ev)
}

func setAttribute(ev *Event, attr, v string) error {
	switch attr {
	case "specversion":
		return nil
	case "id":
		ev.SetID(v)
	case "type":
		ev.SetType(v)
	case "source":
		ev.SetSource(v)
	case "subject":
		ev.SetSubject(v)
	case "datacontenttype":
		ev.SetDataContentType(v)
	case "dataschema":
		ev.SetDataSchema(v)
	case "time":
		var t timeAttr
		if err := t.parse(v); err != nil {
			return err
		}
		ev.SetTime(t.Time)
	default:
		ev.SetExtension(attr, v)
	}
	return nil
}

func validate(ev Event) error {
	if err := ev.Validate(); err != nil {
		msg := strings.TrimSpace(err.Error())
		return fmt.Errorf("%w: %s", ErrMalformed, Printable(strings.ReplaceAll(msg, "\n", "; ")))
	}
	if v := ev.SpecVersion(); v != cloudevents.CloudEventsVersionV1 {
		// The SDK also reads 0.3 structured events; flowbridge speaks 1.0 only, as decodeBinary does.
		return fmt.Errorf("%w: specversion %s is not supported (want 1.0)", ErrMalformed, quote(v))
	}
	return CheckAttributes(ev)
}

// Encode returns the NATS message for ev in binary content mode, on subject events.<type>,
// with Nats-Msg-Id set to the event id so the stream drops a second publish of it. It
// refuses, with the error Decode would give, an event that Decode would refuse: nothing
// out of CheckAttributes' bounds, an invalid subject least of all, reaches the wire.
func Encode(ev Event) (*nats.Msg, error) {
	if err := validate(ev); err != nil {
		return nil, err
	}
	m := nats.NewMsg(Subject(ev.Type()))
	m.Header.Set(HeaderMsgID, ev.ID())
	m.Header.Set("ce-specversion", ev.SpecVersion())
	m.Header.Set("ce-id", ev.ID())
	m.Header.Set("ce-type", ev.Type())
	m.Header.Set("ce-source", ev.Source())
	if s := ev.Subject(); s != "" {
		m.Header.Set("ce-subject", s)
	}
	if !ev.Time().IsZero() {
		m.Header.Set("ce-time", ev.Time().UTC().Format(timeLayout))
	}
	if s := ev.DataSchema(); s != "" {
		m.Header.Set("ce-dataschema", s)
	}
	if ct := ev.DataContentType(); ct != "" {
		m.Header.Set("ce-datacontenttype", ct)
		m.Header.Set(headerContentType, ct)
	}
	for name, v := range ev.Extensions() {
		s, _ := types.Format(v) // cannot fail: CheckAttributes formatted it
		m.Header.Set(cePrefix+name, s)
	}
	m.Data = ev.Data()
	return m, nil
}

// HeaderValue reads a header case-insensitively: publishers in other languages do not
// agree on the case of ce- headers.
func HeaderValue(h nats.Header, key string) string {
	if v := h.Get(key); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func dataMediaType(ct string) string {
	if ct == "" {
		return contentTypeJSON
	}
	return ct
}
