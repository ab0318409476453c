package ingress

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/flowbridge/flowbridge/internal/events"
)

// cloudEvents serves POST /events, the CloudEvents HTTP binding in its three modes:
// structured (Content-Type application/cloudevents+json), batched
// (application/cloudevents-batch+json, a JSON array of structured events) and binary
// (attributes in ce-* headers, the data in the body). Every event is checked before any
// is published, so a request is stored whole or not at all.
func (in *Ingest) cloudEvents(r *http.Request) answer {
	if len(in.cfg.EventsTokens) > 0 && !bearerMatches(r.Header.Get("Authorization"), in.cfg.EventsTokens) {
		return refuse(http.StatusUnauthorized, failure{Error: "missing or wrong bearer token: send Authorization: Bearer <one of INGRESS_EVENTS_TOKENS>"})
	}
	body, fail := readBody(r)
	if fail != nil {
		return *fail
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var evs []events.Event
	var f *failure
	batch := mt == cloudevents.ApplicationCloudEventsBatchJSON
	switch {
	case batch:
		evs, f = batched(body)
	case mt == cloudevents.ApplicationCloudEventsJSON:
		var ev events.Event
		ev, f = structured(body)
		evs = append(evs, ev)
	case r.Header.Get("ce-specversion") != "":
		var ev events.Event
		ev, f = binary(r.Header, body)
		evs = append(evs, ev)
	default:
		return refusef(http.StatusBadRequest,
			"not a CloudEvent: send ce-* headers (binary mode), or Content-Type %s (structured) or %s (batch)",
			cloudevents.ApplicationCloudEventsJSON, cloudevents.ApplicationCloudEventsBatchJSON)
	}
	if f == nil {
		for i, ev := range evs {
			if f = in.check(ev); f != nil {
				if batch {
					f.Index = &i
				}
				break
			}
		}
	}
	if f != nil {
		if f.Index != nil {
			f.Error = fmt.Sprintf("batch event %d: %s; nothing was published", *f.Index, f.Error)
		}
		return refuse(http.StatusBadRequest, *f)
	}
	return in.store(r.Context(), evs...)
}

// batched reads a JSON array of events in the JSON format.
func batched(body []byte) ([]events.Event, *failure) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, &failure{Error: "batch is not a JSON array of CloudEvents: " + err.Error()}
	}
	if len(raws) == 0 {
		return nil, &failure{Error: "batch is empty: send at least one event"}
	}
	evs := make([]events.Event, len(raws))
	for i, raw := range raws {
		var f *failure
		if evs[i], f = structured(raw); f != nil {
			f.Index = &i
			return nil, f
		}
	}
	return evs, nil
}

// structured reads one event in the JSON format.
func structured(raw []byte) (events.Event, *failure) {
	var ev events.Event
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return ev, &failure{Error: "not a CloudEvent in JSON format: want a JSON object"}
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		var ve cloudevents.ValidationError
		if errors.As(err, &ve) {
			field, msg := describeValidation(ve)
			return ev, &failure{Field: field, Error: msg}
		}
		return ev, &failure{Error: "not a CloudEvent in JSON format: " + err.Error()}
	}
	return ev, nil
}

// binary reads an event whose attributes are ce-* headers; Content-Type is its
// datacontenttype. The event is not validated here: check does that.
func binary(h http.Header, body []byte) (events.Event, *failure) {
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	for name, vs := range h {
		attr, ok := strings.CutPrefix(strings.ToLower(name), "ce-")
		if !ok || len(vs) == 0 {
			continue
		}
		v := vs[0]
		// The HTTP binding percent-encodes header values; a value that is not valid
		// percent-encoding comes from a sender that did not encode, and is read as is.
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		switch attr {
		case "specversion":
			if v != cloudevents.CloudEventsVersionV1 {
				return ev, &failure{Field: "specversion", Error: fmt.Sprintf("specversion %q is not supported: send 1.0", v)}
			}
		case "id":
			ev.SetID(v)
		case "type":
			ev.SetType(v)
		case "source":
			ev.SetSource(v)
		case "subject":
			ev.SetSubject(v)
		case "dataschema":
			ev.SetDataSchema(v)
		case "datacontenttype":
			ev.SetDataContentType(v)
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return ev, &failure{Field: "time", Error: fmt.Sprintf("time %q is not an RFC 3339 timestamp", clip(v, 64))}
			}
			ev.SetTime(t)
		default:
			ev.SetExtension(attr, v) // an invalid name is reported by Validate
		}
	}
	if ct := h.Get("Content-Type"); ct != "" && ev.DataContentType() == "" {
		ev.SetDataContentType(ct)
	}
	if len(body) > 0 {
		ev.DataEncoded = body
	}
	return ev, nil
}

// bearerMatches reports, in constant time per token, whether header is "Bearer <t>" for
// one of tokens.
func bearerMatches(header string, tokens []string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || got == "" {
		return false
	}
	match := 0
	for _, t := range tokens {
		match |= subtle.ConstantTimeCompare([]byte(got), []byte(t))
	}
	return match == 1
}
