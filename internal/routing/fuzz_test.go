package routing_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// FuzzParse feeds the routes file loader arbitrary bytes: it must answer a table or an
// error, never panic or hang, and a table it answers must route an event without
// panicking. Seeds: the default table, every routes file under testdata/, and
// testdata/fuzz/FuzzParse (crashers found earlier stay there).
func FuzzParse(f *testing.F) {
	f.Add(routing.DefaultYAML())
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "routes: []", "unmatched: explode", "routes: [{name: a, events: ['>'], action: start, workflow: W, id: '{{ .data.x }}'}]",
		"routes:\n  - name: a\n    events: [a.b]\n    filter: 'data.x > '\n    action: signal\n    signal: s\n    id: x",
		"routes:\n  - name: a\n    events: [a.*]\n    action: start\n    workflow: W\n    id: '{{ range .data }}{{ . }}{{ end }}'\n    rate_limit: {per_second: 0}",
		"&a [*a, *a, *a]", "{{{{", "routes: !!binary AAAA",
	} {
		f.Add([]byte(s))
	}
	samples := []events.Event{
		event("user.signedup", `{"user_id":"u1","email":"a@example.com"}`),
		event("email.verified", `{"user_id":"u1"}`),
		event("a.b", `{"x":[1,2,{"y":null}]}`),
		event("a.b", `not json`),
		event("a.b", ""),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := routing.Parse(data, "fuzz.yaml")
		if err != nil {
			if tbl != nil {
				t.Fatalf("Parse returned a table and an error: %v", err)
			}
			return
		}
		for _, ev := range samples {
			ds, _, err := tbl.Decide(ev)
			if err != nil && !errors.Is(err, routing.ErrUnroutable) && !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrSchema) {
				t.Fatalf("Decide(%s): an error that is neither unroutable nor malformed: %v", ev.Type(), err)
			}
			for _, d := range ds {
				if d.Route == "" || d.Action == "" {
					t.Fatalf("Decide(%s): a decision without route or action: %+v", ev.Type(), d)
				}
			}
		}
	})
}
