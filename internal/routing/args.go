package routing

import (
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"google.golang.org/protobuf/types/known/structpb"
	"gopkg.in/yaml.v3"
)

// argSpec is one positional argument of args or signal_args, as written: a string is a
// Go template when it holds "{{", else a CEL expression; {input: event} is the event
// envelope and {input: data} the event's data as it is.
type argSpec struct {
	Expr  string // a template or a CEL expression
	Input string // "event" or "data"; then Expr is empty
}

func (a *argSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		a.Expr = n.Value
		return nil
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Value == "input" {
			a.Input = n.Content[1].Value
			return nil
		}
	}
	return fmt.Errorf("line %d: an argument is a string (a template with {{ }}, else a CEL expression) or {input: event} or {input: data}", n.Line)
}

// arg is a compiled argSpec.
type arg struct {
	name  string             // args[0], signal_args[1]
	tmpl  *template.Template // a template: the payload is the rendered string
	prg   cel.Program        // a CEL expression: the payload is its JSON-like value
	input string             // "event" or "data"
	// readsID: the argument carries the event's id (the envelope, event.id, {{ .id }}).
	readsID bool
}

// compileArgs compiles the args or signal_args of a route; fail reports each problem.
func compileArgs(field string, specs []argSpec, fail func(string, ...any)) []arg {
	out := make([]arg, 0, len(specs))
	for i, s := range specs {
		a := arg{name: fmt.Sprintf("%s[%d]", field, i)}
		switch {
		case s.Input == "event":
			a.input, a.readsID = s.Input, true
		case s.Input == "data":
			a.input = s.Input
		case s.Input != "":
			fail("%s: input %q is not event or data", a.name, s.Input)
			continue
		case strings.TrimSpace(s.Expr) == "":
			fail("%s is empty: write a CEL expression (data.user_id), a template ('{{ .data.user_id }}') or {input: event}", a.name)
			continue
		case strings.Contains(s.Expr, "{{"):
			t, err := template.New(a.name).Option("missingkey=error").Funcs(templateFuncs).Parse(s.Expr)
			if err != nil {
				fail("%s: %v", a.name, err)
				continue
			}
			a.tmpl, a.readsID = t, templateReadsID(t.Tree.Root)
		default:
			ast, iss := celEnv.Compile(s.Expr)
			if iss.Err() != nil {
				fail("%s: %q: %v", a.name, s.Expr, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
				continue
			}
			prg, err := celEnv.Program(ast)
			if err != nil {
				fail("%s: %q: %v", a.name, s.Expr, err)
				continue
			}
			a.prg, a.readsID = prg, celReadsID(ast)
		}
		out = append(out, a)
	}
	return out
}

// value is the argument's payload for one event.
func (a arg) value(in *input) (any, error) {
	switch {
	case a.input == "event":
		return in.workflowEvent(), nil
	case a.input == "data":
		return rawJSON(in.ev.Data()), nil
	case a.tmpl != nil:
		return render(a.tmpl, in, false)
	}
	out, _, err := a.prg.Eval(in.activation())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", a.name, err)
	}
	v, err := out.ConvertToNative(reflect.TypeFor[*structpb.Value]())
	if err != nil {
		return nil, fmt.Errorf("%s: %v is not JSON-like: %v", a.name, out, err)
	}
	return v.(*structpb.Value).AsInterface(), nil
}

// argValues renders every argument; never nil, so that `args: []` means no arguments.
func argValues(args []arg, in *input) ([]any, error) {
	out := make([]any, 0, len(args))
	for _, a := range args {
		v, err := a.value(in)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// celReadsID reports whether a CEL expression reads event.id (or event["id"]).
func celReadsID(ast *cel.Ast) bool {
	isEvent := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "event" }
	root := ast.NativeRep().Expr()
	found := isEvent(root) // the attributes, id among them
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			s := e.AsSelect()
			found = found || (s.FieldName() == "id" && isEvent(s.Operand()))
		case celast.CallKind:
			c := e.AsCall()
			if c.FunctionName() == operators.Index && len(c.Args()) == 2 && isEvent(c.Args()[0]) && c.Args()[1].Kind() == celast.LiteralKind {
				found = found || c.Args()[1].AsLiteral() == types.String("id")
			}
		}
	}))
	return found
}

// templateReadsID reports whether a template reads .id, the event's id.
func templateReadsID(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if templateReadsID(c) {
				return true
			}
		}
	case *parse.ActionNode:
		return templateReadsID(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if templateReadsID(c) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if templateReadsID(a) {
				return true
			}
		}
	case *parse.FieldNode:
		return len(n.Ident) == 1 && n.Ident[0] == "id"
	case *parse.IfNode:
		return templateReadsID(n.Pipe) || templateReadsID(n.List) || templateReadsID(n.ElseList)
	case *parse.WithNode:
		return templateReadsID(n.Pipe) || templateReadsID(n.List) || templateReadsID(n.ElseList)
	}
	return false
}

// compileRouteArgs checks and compiles the args and signal_args of rs into r.
func compileRouteArgs(r *route, rs routeSpec, fail func(string, ...any)) {
	starts := rs.Action == Start || rs.Action == SignalWithStart
	signals := rs.Action == Signal || rs.Action == SignalWithStart
	if rs.Args != nil {
		r.argsSet = true
		switch {
		case !starts:
			fail("args: only start and signal_with_start start a workflow; a signal's arguments are signal_args")
		case rs.Input != "" || len(rs.InputMap) > 0:
			fail("args and input are mutually exclusive: args lists every argument, input is the one argument (input: event is args: [{input: event}])")
		}
		r.args = compileArgs("args", rs.Args, fail)
	}
	if rs.SignalArgs != nil {
		r.signalArgsSet = true
		if !signals {
			fail("signal_args: only signal and signal_with_start send a signal; a start's arguments are args")
		}
		r.signalArgs = compileArgs("signal_args", rs.SignalArgs, fail)
		readsID := false
		for _, a := range r.signalArgs {
			readsID = readsID || a.readsID
		}
		if !readsID && len(r.signalArgs) == len(rs.SignalArgs) {
			fail("signal_args: no argument carries the event id, by which a workflow drops a signal it has seen: add {input: event}, event.id or '{{ .id }}'")
		}
	}
}
