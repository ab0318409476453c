package events

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Data is an event's data decoded once, for everything that reads it: schema validation,
// route templates and CEL filters share one decoded value instead of each decoding the
// bytes again.
type Data struct {
	// Raw is the data as it arrived.
	Raw []byte
	// Value is Raw decoded as JSON: map[string]any, []any, string, bool, nil, and
	// json.Number for numbers, so they stay exact (1000000 is not 1e+06, and an id past
	// 2^53 keeps every digit). Nil when Raw is empty or not JSON. Readers must not
	// modify it: it is shared.
	Value any
	// Err says why Raw is not JSON; nil when it is, or when it is empty. Each reader
	// reports it in its own terms (ErrSchema, routing.ErrUnroutable), and only if it
	// needs the data.
	Err error
}

// DecodeData decodes raw, an event's data, as JSON.
func DecodeData(raw []byte) Data {
	d := Data{Raw: raw}
	if len(raw) == 0 {
		return d
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&d.Value); err != nil {
		d.Value, d.Err = nil, err
		return d
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		d.Value, d.Err = nil, errors.New("invalid character after top-level value")
	}
	return d
}
