package contract_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/schemas"
)

// requiredButOmitted lists the required properties whose Go field is omitempty on
// purpose, with the reason.
var requiredButOmitted = map[string]string{
	// The Stripe webhook leaves customer_id out when Stripe named no customer, so the
	// schema refuses the event naming the missing field instead of taking "".
	contract.TypeStripePaid + ".customer_id": "left out so the schema names it as missing",
}

// Every event type has a schema and a data struct, and the two agree: each property is
// a field of the same JSON name and type, each required property a field that is always
// written (unless another type the struct serves has no such property), and each field a property (of one of the types the struct serves, when it
// serves several: a field another type's schema does not name is left out when empty).
func TestPayloadsMatchSchemas(t *testing.T) {
	payloads := contract.Payloads()
	files, err := schemas.FS.ReadDir(".")
	require.NoError(t, err)
	var schemaTypes []string
	for _, f := range files {
		if typ, ok := strings.CutSuffix(f.Name(), ".json"); ok {
			schemaTypes = append(schemaTypes, typ)
		}
	}
	var goTypes []string
	for typ := range payloads {
		goTypes = append(goTypes, typ)
	}
	sort.Strings(goTypes)
	require.Equal(t, schemaTypes, goTypes, "schemas/*.json and contract.Payloads must name the same event types")

	// The properties each struct's types name between them, for fields a type leaves out.
	serves := map[reflect.Type][]string{}
	for _, typ := range goTypes {
		rt := reflect.TypeOf(payloads[typ])
		serves[rt] = append(serves[rt], typ)
	}
	for _, typ := range goTypes {
		t.Run(typ, func(t *testing.T) {
			raw, err := schemas.FS.ReadFile(typ + ".json")
			require.NoError(t, err)
			var s schema
			require.NoError(t, json.Unmarshal(raw, &s))
			rt := reflect.TypeOf(payloads[typ])
			var siblings []schema
			for _, other := range serves[rt] {
				raw, err := schemas.FS.ReadFile(other + ".json")
				require.NoError(t, err)
				var o schema
				require.NoError(t, json.Unmarshal(raw, &o))
				siblings = append(siblings, o)
			}
			checkObject(t, typ, s, siblings, rt)
		})
	}
}

// schema is the part of a JSON Schema the test compares.
type schema struct {
	Type       string            `json:"type"`
	Const      any               `json:"const"`
	Properties map[string]schema `json:"properties"`
	Required   []string          `json:"required"`
	Items      *schema           `json:"items"`
	// AdditionalProperties is a schema for a map's values, or false.
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

type field struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

func jsonFields(rt reflect.Type) map[string]field {
	out := map[string]field{}
	for f := range rt.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = field{name: name, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty"), typ: f.Type}
	}
	return out
}

// checkObject compares the object schema s (of path, and the schemas of every type the
// struct serves: siblings) with the struct rt.
func checkObject(t *testing.T, path string, s schema, siblings []schema, rt reflect.Type) {
	t.Helper()
	require.Equal(t, "object", s.Type, "%s: the schema is not an object", path)
	require.Equal(t, reflect.Struct, rt.Kind(), "%s: got Go %v, want a struct", path, rt)
	fields := jsonFields(rt)
	for name, prop := range s.Properties {
		f, ok := fields[name]
		if !ok {
			t.Errorf("%s.%s: in the schema, no field of %v", path, name, rt)
			continue
		}
		checkType(t, path+"."+name, prop, f.typ)
	}
	for _, name := range s.Required {
		f, ok := fields[name]
		if !ok {
			continue // reported above
		}
		// A struct that serves several types leaves out what another type has not.
		shared := false
		for _, o := range siblings {
			shared = shared || !slices.Contains(o.Required, name)
		}
		if f.omitempty && !shared && requiredButOmitted[path+"."+name] == "" {
			t.Errorf("%s.%s: required by the schema, but %v leaves it out when empty (omitempty)", path, name, rt)
		}
	}
	for name, f := range fields {
		if _, ok := s.Properties[name]; ok {
			continue
		}
		named := false
		for _, o := range siblings {
			_, in := o.Properties[name]
			named = named || in
		}
		switch {
		case !named:
			t.Errorf("%s.%s: a field of %v that no schema names", path, name, rt)
		case !f.omitempty:
			t.Errorf("%s.%s: a field of %v this type's schema does not name, written even when empty", path, name, rt)
		}
	}
}

// checkType compares one property's schema with its field's Go type.
func checkType(t *testing.T, path string, s schema, rt reflect.Type) {
	t.Helper()
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	typ := s.Type
	if typ == "" && s.Const != nil {
		switch s.Const.(type) {
		case string:
			typ = "string"
		case float64:
			typ = "number"
		case bool:
			typ = "boolean"
		}
	}
	kinds := map[string][]reflect.Kind{
		"string":  {reflect.String},
		"integer": {reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64},
		"number":  {reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64},
		"boolean": {reflect.Bool},
		"array":   {reflect.Slice},
		"object":  {reflect.Struct, reflect.Map},
	}
	want, ok := kinds[typ]
	require.True(t, ok, "%s: the test does not know schema type %q", path, typ)
	if !slices.Contains(want, rt.Kind()) {
		t.Errorf("%s: got Go %v, want a JSON %s", path, rt, typ)
		return
	}
	switch {
	case typ == "array" && s.Items != nil:
		checkType(t, path+"[]", *s.Items, rt.Elem())
	case typ == "object" && rt.Kind() == reflect.Struct:
		checkObject(t, path, s, nil, rt)
	case typ == "object" && rt.Kind() == reflect.Map:
		var values schema
		require.NoError(t, json.Unmarshal(s.AdditionalProperties, &values), "%s: a map wants additionalProperties as a schema", path)
		require.Equal(t, reflect.String, rt.Key().Kind(), "%s: a map's keys must be strings", path)
		checkType(t, path+"{}", values, rt.Elem())
	}
}
