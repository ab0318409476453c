package routing

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	celast "github.com/google/cel-go/common/ast"

	"github.com/flowbridge/flowbridge/internal/events"
)

// fieldRef is a place in a route that reads a field of the event's data: a template's
// .data.a.b or a CEL expression's data.a.b.
type fieldRef struct {
	in   string   // where: id, memo.origin, filter, input_map.key, args[0], ...
	path []string // the field's path below data: ["a", "b"]
}

// dataRefs lists the data fields rs reads, for checking them against the schemas of its
// event types. Expressions that do not compile are left out: compiling the route reports
// them.
func dataRefs(rs routeSpec) []fieldRef {
	var refs []fieldRef
	tmpl := func(in, text string) {
		if !strings.Contains(text, "{{") {
			return
		}
		t, err := template.New(in).Funcs(templateFuncs).Parse(text)
		if err != nil {
			return
		}
		for _, p := range templateDataPaths(t.Tree.Root) {
			refs = append(refs, fieldRef{in, p})
		}
	}
	expr := func(in, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		ast, iss := celEnv.Parse(text)
		if iss.Err() != nil {
			return
		}
		for _, p := range celDataPaths(ast.NativeRep().Expr()) {
			refs = append(refs, fieldRef{in, p})
		}
	}
	tmpl("id", rs.ID)
	tmpl("signal", rs.Signal)
	tmpl("task_queue", rs.TaskQueue)
	for _, k := range slices.Sorted(maps.Keys(rs.Memo)) {
		tmpl("memo."+k, rs.Memo[k])
	}
	for _, k := range slices.Sorted(maps.Keys(rs.SearchAttributes)) {
		tmpl("search_attributes."+k, rs.SearchAttributes[k])
	}
	expr("filter", rs.Filter)
	for _, k := range slices.Sorted(maps.Keys(rs.InputMap)) {
		expr("input_map."+k, rs.InputMap[k])
	}
	for field, specs := range map[string][]argSpec{"args": rs.Args, "signal_args": rs.SignalArgs} {
		for i, s := range specs {
			in := fmt.Sprintf("%s[%d]", field, i)
			if strings.Contains(s.Expr, "{{") {
				tmpl(in, s.Expr)
			} else {
				expr(in, s.Expr)
			}
		}
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].in < refs[j].in })
	return refs
}

// templateDataPaths lists the .data.x.y fields a template reads.
func templateDataPaths(n parse.Node) [][]string {
	var out [][]string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) > 1 && n.Ident[0] == "data" {
				out = append(out, n.Ident[1:])
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(n)
	return out
}

// celDataPaths lists the data.x.y fields a CEL expression reads: the longest select
// chain on the variable data. A has() test is not a read: it asks whether the field is
// there, which is fine whatever the schema says; and a field the expression tests with
// has() is read under that guard (has(data.plan) && data.plan == "pro"), so it is left out.
func celDataPaths(root celast.Expr) [][]string {
	// path of e when e is a chain of selects on data; nil otherwise.
	var chain func(e celast.Expr) []string
	chain = func(e celast.Expr) []string {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "data" {
				return []string{}
			}
		case celast.SelectKind:
			s := e.AsSelect()
			if p := chain(s.Operand()); p != nil {
				return append(p, s.FieldName())
			}
		}
		return nil
	}
	inner := map[celast.Expr]bool{} // operands of a longer chain, or has() tests
	tested := map[string]bool{}     // paths a has() asks about: reading them is guarded
	var out [][]string
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.SelectKind || inner[e] {
			if e.Kind() == celast.SelectKind {
				inner[e.AsSelect().Operand()] = true
			}
			return
		}
		s := e.AsSelect()
		inner[s.Operand()] = true
		if s.IsTestOnly() {
			if p := chain(s.Operand()); p != nil {
				tested[strings.Join(append(p, s.FieldName()), ".")] = true
			}
			return
		}
		if p := chain(e); len(p) > 0 {
			out = append(out, p)
		}
	}))
	return slices.DeleteFunc(out, func(p []string) bool { return tested[strings.Join(p, ".")] })
}

// SchemaSet is what CheckSchemas needs of the event schemas (events.Schemas).
type SchemaSet interface {
	Types() []string
	// Field says whether the data of eventType, by its schema, has the field at path.
	Field(eventType string, path []string) events.FieldAnswer
}

// CheckSchemas checks the table against the event schemas. A route pattern that matches
// no type with a schema is a warning: its events are routed without validation. A data
// field a route reads (in a template or a CEL expression) that the schema of its event
// type does not declare is an error: it would fail on every event. For a wildcard route
// the field must be declared by one of the types it matches.
func (t *Table) CheckSchemas(s SchemaSet) (warnings []string, err error) {
	types := s.Types()
	var errs []error
	for _, r := range t.routes {
		var matched []string
		for _, p := range r.patterns {
			n := len(matched)
			for _, st := range types {
				if events.MatchType(p, st) {
					matched = append(matched, st)
				}
			}
			if len(matched) == n {
				warnings = append(warnings, fmt.Sprintf("%s: event type %s has no schema: its events are routed without validation (add %s.json to SCHEMAS_DIR)",
					r.where(), p, strings.NewReplacer("*", "X", ">", "X").Replace(p)))
			}
		}
		if len(matched) == 0 {
			continue
		}
		for _, ref := range r.refs {
			declared := false
			for _, st := range matched {
				if s.Field(st, ref.path) != events.FieldMissing {
					declared = true
					break
				}
			}
			if !declared {
				errs = append(errs, fmt.Errorf("%s: %s reads data.%s, which the schema of %s does not declare (a typo? else declare it in the schema, or guard a CEL read with has())",
					r.where(), ref.in, strings.Join(ref.path, "."), strings.Join(matched, ", ")))
			}
		}
	}
	return warnings, errors.Join(errs...)
}
