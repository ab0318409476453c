package ingress

import (
	"bytes"
	"crypto/sha256"
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
//
// The caller is who its bearer token says (IngestConfig.EventsTokens), or anyone when
// the endpoint is open; every event must be of a type its scope allows (403 otherwise,
// for the whole request).
func (in *Ingest) cloudEvents(r *http.Request) answer {
	caller, denied := in.auth.authorize(r.Header.Get("Authorization"))
	if denied != nil {
		return *denied
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
			if events.CheckType(ev.Type()) != nil {
				continue // check says what is wrong with it
			}
			if why := caller.refusal(ev.Type()); why != "" {
				f := failure{Field: "type", ID: shownID(ev.ID()), Error: why}
				if batch {
					f.Index = &i
					f.Error = fmt.Sprintf("batch event %d: %s; nothing was published", i, why)
				}
				return refuse(http.StatusForbidden, f)
			}
		}
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
		if err := events.CheckRawAttribute(attr, v); err != nil {
			var ae *events.AttributeError
			errors.As(err, &ae)
			return ev, &failure{Field: ae.Attribute, Error: err.Error()}
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

// bearerMatches returns which of sums (SHA-256 digests of the tokens) the token of
// header, "Bearer <token>", matches. It compares with every digest in constant time,
// so neither the position of the match nor the tokens' lengths show in its timing.
func bearerMatches(header string, sums [][sha256.Size]byte) (int, bool) {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || got == "" {
		return 0, false
	}
	sum := sha256.Sum256([]byte(got))
	match, at := 0, 0
	for i := range sums {
		eq := subtle.ConstantTimeCompare(sum[:], sums[i][:])
		at = subtle.ConstantTimeSelect(eq, i, at)
		match |= eq
	}
	return at, match == 1
}
