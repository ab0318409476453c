package events

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrSchema is wrapped by the error Validate returns for data that breaks its schema.
var ErrSchema = errors.New("event data breaks its schema")

// Schemas validates event data against one JSON Schema (draft 2020-12) per event type,
// read from files named <type>.json. It is safe for concurrent use.
type Schemas struct {
	byType map[string]*jsonschema.Schema
}

// LoadSchemas compiles every *.json file at the root of fsys.
func LoadSchemas(fsys fs.FS) (*Schemas, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	urls := map[string]string{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		url := "https://flowbridge.local/schemas/" + name
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		urls[strings.TrimSuffix(path.Base(name), ".json")] = url
	}
	s := &Schemas{byType: make(map[string]*jsonschema.Schema, len(urls))}
	for typ, url := range urls {
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("compile schema for %s: %w", typ, err)
		}
		s.byType[typ] = sch
	}
	return s, nil
}

// Has reports whether eventType has a schema.
func (s *Schemas) Has(eventType string) bool {
	_, ok := s.byType[eventType]
	return ok
}

// Types lists the event types that have a schema, sorted.
func (s *Schemas) Types() []string {
	out := make([]string, 0, len(s.byType))
	for t := range s.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Validate checks ev's data against the schema for its type. An event type without a
// schema passes. The error wraps ErrSchema and names each failing place by its JSON
// pointer with the reason ("/: missing property 'user_id'", "/amount: got string, want
// integer").
func (s *Schemas) Validate(ev Event) error {
	if !s.Has(ev.Type()) {
		return nil
	}
	return s.ValidateData(ev.Type(), DecodeData(ev.Data()))
}

// ValidateData is Validate over data already decoded (DecodeData), so that the bridge
// decodes an event's data once for validation and routing alike.
func (s *Schemas) ValidateData(eventType string, data Data) error {
	sch, ok := s.byType[eventType]
	if !ok {
		return nil
	}
	if len(data.Raw) == 0 {
		return fmt.Errorf("%w: %s has no data", ErrSchema, eventType)
	}
	if data.Err != nil {
		return fmt.Errorf("%w: %s data is not JSON: %v", ErrSchema, eventType, data.Err)
	}
	err := sch.Validate(data.Value)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("%w: %s: %s", ErrSchema, eventType, describe(ve))
	}
	return err
}

// describe flattens a validation error into "at /field: reason" items.
func describe(ve *jsonschema.ValidationError) string {
	var parts []string
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		loc := u.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		parts = append(parts, loc+": "+u.Error.String())
	}
	if len(parts) == 0 {
		return ve.Error()
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
