package events

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	source map[string]string // type → "built-in" or the file it was read from
	raw    map[string][]byte // type → the schema as written
}

// BuiltIn is the Source of a schema compiled into the binary.
const BuiltIn = "built-in"

// LoadSchemas compiles every *.json file at the root of fsys.
func LoadSchemas(fsys fs.FS) (*Schemas, error) {
	return LoadSchemasDir(fsys, "")
}

// LoadSchemasDir compiles the schemas of builtin, then those of dir (SCHEMAS_DIR; ""
// for none): a file of dir named <type>.json adds the type, or replaces the built-in
// schema of that type. Schemas may $ref each other by file name, across both sets.
func LoadSchemasDir(builtin fs.FS, dir string) (*Schemas, error) {
	type file struct {
		source string
		body   []byte
	}
	files := map[string]file{}
	read := func(fsys fs.FS, source func(name string) string) error {
		names, err := fs.Glob(fsys, "*.json")
		if err != nil {
			return err
		}
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			files[name] = file{source(name), b}
		}
		return nil
	}
	if err := read(builtin, func(string) string { return BuiltIn }); err != nil {
		return nil, err
	}
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("SCHEMAS_DIR: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("SCHEMAS_DIR: %s is not a directory", dir)
		}
		if err := read(os.DirFS(dir), func(name string) string { return filepath.Join(dir, name) }); err != nil {
			return nil, fmt.Errorf("SCHEMAS_DIR: %w", err)
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s := &Schemas{byType: map[string]*jsonschema.Schema{}, source: map[string]string{}, raw: map[string][]byte{}}
	urls := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		typ := strings.TrimSuffix(path.Base(name), ".json")
		if err := CheckType(typ); err != nil {
			return nil, fmt.Errorf("schema %s: the file name must be <event type>.json: %w", f.source, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.body))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", describeSource(name, f.source), err)
		}
		url := "https://flowbridge.local/schemas/" + name
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", describeSource(name, f.source), err)
		}
		urls[typ] = url
		s.source[typ], s.raw[typ] = f.source, f.body
	}
	for typ, url := range urls {
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("compile schema for %s (%s): %w", typ, s.source[typ], err)
		}
		s.byType[typ] = sch
	}
	return s, nil
}

func describeSource(name, source string) string {
	if source == BuiltIn {
		return name
	}
	return source
}

// Source says where the schema of eventType came from: BuiltIn or a file of SCHEMAS_DIR;
// "" when it has none.
func (s *Schemas) Source(eventType string) string { return s.source[eventType] }

// Raw is the schema of eventType as written; nil when it has none.
func (s *Schemas) Raw(eventType string) []byte { return s.raw[eventType] }

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

// FieldAnswer is what a schema says of a field of the data: see Schemas.Field.
type FieldAnswer int

const (
	// FieldUnknown: the schema does not list the fields there (no "properties", or
	// patternProperties, or an untyped place), so any may be there.
	FieldUnknown FieldAnswer = iota
	// FieldDeclared: the schema declares the field.
	FieldDeclared
	// FieldMissing: the schema lists the fields of the object there, and not this one.
	FieldMissing
)

// Field says whether the data of eventType, by its schema, has the field at path
// (["customer", "id"] for data.customer.id). A type without a schema is FieldUnknown.
func (s *Schemas) Field(eventType string, path []string) FieldAnswer {
	sch := s.byType[eventType]
	if sch == nil {
		return FieldUnknown
	}
	return schemaField([]*jsonschema.Schema{sch}, path)
}

// schemaField answers Field for path below any of the schemas at one place (a field may
// be declared by a $ref or an allOf/anyOf/oneOf branch).
func schemaField(at []*jsonschema.Schema, path []string) FieldAnswer {
	if len(path) == 0 {
		return FieldDeclared
	}
	var places []*jsonschema.Schema
	var expand func(*jsonschema.Schema, int)
	expand = func(sc *jsonschema.Schema, depth int) {
		if sc == nil || depth > 16 {
			return
		}
		places = append(places, sc)
		expand(sc.Ref, depth+1)
		for _, l := range [][]*jsonschema.Schema{sc.AllOf, sc.AnyOf, sc.OneOf} {
			for _, b := range l {
				expand(b, depth+1)
			}
		}
	}
	for _, sc := range at {
		expand(sc, 0)
	}
	var next []*jsonschema.Schema
	listed := false
	for _, sc := range places {
		if len(sc.PatternProperties) > 0 || sc.DynamicRef != nil || sc.RecursiveRef != nil {
			return FieldUnknown
		}
		if sub, ok := sc.Properties[path[0]]; ok {
			next = append(next, sub)
		}
		if len(sc.Properties) > 0 || notObject(sc) {
			listed = true // its fields are listed, or it has none: it is a scalar or an array
		}
		if _, ok := sc.AdditionalProperties.(*jsonschema.Schema); ok {
			return FieldUnknown // any other name, of that schema
		}
	}
	switch {
	case len(next) > 0:
		return schemaField(next, path[1:])
	case listed:
		return FieldMissing
	}
	return FieldUnknown
}

// notObject reports whether sc's "type" rules out an object.
func notObject(sc *jsonschema.Schema) bool {
	return sc.Types != nil && !sc.Types.IsEmpty() && !slices.Contains(sc.Types.ToStrings(), "object")
}
