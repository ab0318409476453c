package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// route is a compiled routeSpec.
type route struct {
	name     string
	loc      string // file:line
	patterns []string
	filter   cel.Program // nil: takes every event of its types
	action   Action
	workflow string
	id       *template.Template
	signal   *template.Template
	queue    *template.Template
	memo     map[string]*template.Template
	attrs    map[string]*template.Template

	inputMode string
	inputMap  map[string]cel.Program
	// args and signalArgs, when set (argsSet, signalArgsSet), replace the one input and
	// the one signal argument, the event.
	args, signalArgs       []arg
	argsSet, signalArgsSet bool

	runTimeout, execTimeout time.Duration
	reuse                   enumspb.WorkflowIdReusePolicy
	conflict                enumspb.WorkflowIdConflictPolicy

	limiter          *rate.Limiter
	concurrencyKey   *template.Template
	concurrencyLimit int

	refs        []fieldRef    // the data fields it reads, checked against the schemas
	maxRetryAge time.Duration // 0: the file's, else the bridge's
	maxAttempts int           // 0: the file's, else the bridge's

	window *window // nil: act on each event at once
}

func (r *route) where() string { return r.loc + ": route " + r.name }

var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("data", cel.DynType),
		cel.CrossTypeNumericComparisons(true),
		cel.CustomTypeAdapter(celAdapter{types.DefaultTypeAdapter}),
		ext.Strings(), // lowerAscii, upperAscii, split, replace, ...
	)
	if err != nil {
		panic(err) // a constant environment: fails in every test if wrong
	}
	return env
}()

// celAdapter hands event data decoded with json.Number (events.Data) to CEL: a number
// is a double, as json.Unmarshal would have made it, and maps and lists keep this adapter
// for what they hold.
type celAdapter struct{ types.Adapter }

func (a celAdapter) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return types.NewErr("data number %s: %v", v, err)
		}
		return types.Double(f)
	case map[string]any:
		return types.NewStringInterfaceMap(a, v)
	case []any:
		return types.NewDynamicList(a, v)
	}
	return a.Adapter.NativeToValue(v)
}

var templateFuncs = template.FuncMap{
	"replace": func(old, new string, s any) string { return strings.ReplaceAll(fmt.Sprint(s), old, new) },
	"lower":   func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
	"upper":   func(s any) string { return strings.ToUpper(fmt.Sprint(s)) },
	"default": func(def string, v any) string {
		if v == nil || fmt.Sprint(v) == "" {
			return def
		}
		return fmt.Sprint(v)
	},
}

var knownWorkflows = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range contract.Workflows {
		m[w] = true
	}
	return m
}()

// defaultAttrs are the search attributes the bridge sets on every start, which a route may
// not set itself.
var defaultAttrs = map[string]bool{
	contract.SearchAttributeEventID: true, contract.SearchAttributeEventType: true, contract.SearchAttributeCorrelationID: true,
}

// compileRoute checks and compiles one route; the error lists every problem, each
// prefixed with loc and the route's name.
func compileRoute(rs routeSpec, loc string) (*route, error) {
	r := &route{name: rs.Name, loc: loc, action: rs.Action, workflow: rs.Workflow, patterns: rs.Events,
		runTimeout: time.Duration(rs.RunTimeout), execTimeout: time.Duration(rs.ExecutionTimeout),
		maxRetryAge: time.Duration(rs.MaxRetryAge), maxAttempts: rs.MaxAttempts}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if rs.Name == "" {
		fail("name is required")
	}
	if len(rs.Events) == 0 {
		fail("events: at least one event type is required")
	}
	for _, p := range rs.Events {
		if err := checkPattern(p); err != nil {
			fail("events: %v", err)
		}
	}
	if rs.Filter != "" {
		prg, err := compileCEL(rs.Filter, true)
		if err != nil {
			fail("filter: %v", err)
		}
		r.filter = prg
	}

	needWorkflow := rs.Action == Start || rs.Action == SignalWithStart
	needSignal := rs.Action == Signal || rs.Action == SignalWithStart
	switch rs.Action {
	case Start, Signal, SignalWithStart, Cancel, Ignore:
	case "":
		fail("action is required: start, signal, signal_with_start, cancel or ignore")
	default:
		fail("action %q is not start, signal, signal_with_start, cancel or ignore", rs.Action)
	}
	if needWorkflow && rs.Workflow == "" {
		fail("%s needs workflow (one of %s)", rs.Action, strings.Join(sortedKeys(knownWorkflows), ", "))
	}
	if rs.Workflow != "" && !knownWorkflows[rs.Workflow] && rs.TaskQueue == "" {
		fail("workflow %q is not one of flowbridge's (%s): name the task_queue of the worker that runs it",
			rs.Workflow, strings.Join(sortedKeys(knownWorkflows), ", "))
	}
	if needSignal && rs.Signal == "" {
		fail("%s needs signal", rs.Action)
	}
	if rs.Action != Ignore && rs.ID == "" {
		fail("id is required: a template for the workflow id, such as 'onboarding-{{ .data.user_id }}'")
	}
	compileTmpl := func(field, text string) *template.Template {
		if text == "" {
			return nil
		}
		t, err := template.New(field).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
		if err != nil {
			fail("%s: %v", field, err)
		}
		return t
	}
	r.id = compileTmpl("id", rs.ID)
	r.signal = compileTmpl("signal", rs.Signal)
	r.queue = compileTmpl("task_queue", rs.TaskQueue)
	r.memo = map[string]*template.Template{}
	for k, v := range rs.Memo {
		r.memo[k] = compileTmpl("memo."+k, v)
	}
	r.attrs = map[string]*template.Template{}
	for k, v := range rs.SearchAttributes {
		if defaultAttrs[k] {
			fail("search_attributes.%s: flowbridge sets it on every workflow it starts, from the event", k)
		}
		r.attrs[k] = compileTmpl("search_attributes."+k, v)
	}

	r.inputMode = rs.Input
	if (rs.Action == Signal || rs.Action == Cancel || rs.Action == Ignore) && (rs.Input != "" || len(rs.InputMap) > 0) {
		fail("input only applies to starts: a signal carries the whole event, or its signal_args")
	}
	switch rs.Input {
	case "", "event":
		r.inputMode = "event"
		if len(rs.InputMap) > 0 {
			fail("input_map is only used with input: map")
		}
	case "data":
	case "map":
		if len(rs.InputMap) == 0 {
			fail("input: map needs input_map (key: CEL expression)")
		}
		r.inputMap = map[string]cel.Program{}
		for k, expr := range rs.InputMap {
			prg, err := compileCEL(expr, false)
			if err != nil {
				fail("input_map.%s: %v", k, err)
			}
			r.inputMap[k] = prg
		}
	default:
		fail("input %q is not event, data or map", rs.Input)
	}

	compileRouteArgs(r, rs, fail)
	compileWindow(r, rs, compileTmpl, fail)

	var err error
	if r.reuse, err = reusePolicy(rs.IDReusePolicy); err != nil {
		fail("%v", err)
	}
	if r.conflict, err = conflictPolicy(rs.IDConflictPolicy); err != nil {
		fail("%v", err)
	}
	if rs.Action == SignalWithStart && rs.IDConflictPolicy != "" && r.conflict != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
		fail("signal_with_start always uses the running workflow: id_conflict_policy must be use_existing or unset")
	}
	if rs.RunTimeout < 0 || rs.ExecutionTimeout < 0 {
		fail("timeouts must not be negative")
	}
	if rs.MaxRetryAge < 0 || rs.MaxAttempts < 0 {
		fail("max_retry_age and max_attempts must not be negative (0 or unset: the file's default, else the bridge's)")
	}
	if rl := rs.RateLimit; rl != nil {
		if rl.PerSecond <= 0 {
			fail("rate_limit.per_second must be positive")
		} else {
			burst := rl.Burst
			if burst <= 0 {
				burst = int(math.Ceil(rl.PerSecond))
			}
			r.limiter = rate.NewLimiter(rate.Limit(rl.PerSecond), burst)
		}
	}
	if c := rs.Concurrency; c != nil {
		if c.Limit < 1 {
			fail("concurrency.limit must be at least 1")
		}
		if c.Key == "" {
			fail("concurrency.key is required (a template, such as '{{ .data.customer_id }}')")
		}
		r.concurrencyKey = compileTmpl("concurrency.key", c.Key)
		r.concurrencyLimit = c.Limit
	}
	if len(errs) > 0 {
		for i, e := range errs {
			errs[i] = fmt.Errorf("%s: route %s: %w", loc, rs.Name, e)
		}
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func checkPattern(p string) error {
	toks := strings.Split(p, ".")
	for i, tok := range toks {
		if tok == ">" && i != len(toks)-1 {
			return fmt.Errorf("%q: '>' may only be the last token", p)
		}
	}
	if err := events.CheckType(strings.NewReplacer("*", "x", ">", "x").Replace(p)); err != nil {
		return fmt.Errorf("%q is not an event type or pattern", p)
	}
	return nil
}

func compileCEL(expr string, wantBool bool) (cel.Program, error) {
	ast, iss := celEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%q: %v", expr, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if wantBool && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("%q gives %s, want bool", expr, ast.OutputType())
	}
	return celEnv.Program(ast)
}

func reusePolicy(s string) (enumspb.WorkflowIdReusePolicy, error) {
	switch s {
	case "", "reject_duplicate":
		return enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, nil
	case "allow_duplicate":
		return enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, nil
	case "allow_duplicate_failed_only":
		return enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, nil
	}
	return 0, fmt.Errorf("id_reuse_policy %q is not reject_duplicate, allow_duplicate or allow_duplicate_failed_only", s)
}

func conflictPolicy(s string) (enumspb.WorkflowIdConflictPolicy, error) {
	switch s {
	case "", "fail":
		return enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, nil
	case "use_existing":
		return enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, nil
	case "terminate_existing":
		return enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING, nil
	}
	return 0, fmt.Errorf("id_conflict_policy %q is not fail, use_existing or terminate_existing", s)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// takes reports whether the route takes events of type t.
func (r *route) takes(t string) bool {
	for _, p := range r.patterns {
		if events.MatchType(p, t) {
			return true
		}
	}
	return false
}

// matches evaluates the filter. An evaluation error (a field the filter reads is
// missing, say) is a non-match whose reason says so: use has(data.x) for optional fields.
func (r *route) matches(in *input) (bool, string) {
	if r.filter == nil {
		return true, ""
	}
	out, _, err := r.filter.Eval(in.activation())
	if err != nil {
		return false, "filter error: " + err.Error()
	}
	if b, ok := out.(types.Bool); ok && bool(b) {
		return true, ""
	}
	if _, ok := out.(types.Bool); !ok {
		return false, fmt.Sprintf("filter gave %v, not a bool", out)
	}
	return false, "filter is false"
}

// decide renders the route's templates for one event.
func (r *route) decide(in *input) (Decision, error) {
	d := Decision{Route: r.name, Action: r.action, WorkflowType: r.workflow,
		RunTimeout: r.runTimeout, ExecutionTimeout: r.execTimeout,
		ReusePolicy: r.reuse, ConflictPolicy: r.conflict, Limiter: r.limiter, ConcurrencyLimit: r.concurrencyLimit}
	if r.action == Ignore {
		return d, nil
	}
	var err error
	if d.WorkflowID, err = render(r.id, in, true); err != nil {
		return d, err
	}
	if d.Signal, err = render(r.signal, in, r.signal != nil); err != nil {
		return d, err
	}
	if d.TaskQueue, err = render(r.queue, in, false); err != nil {
		return d, err
	}
	if r.window != nil {
		if d.Window, err = r.window.decide(r.name, in); err != nil {
			return d, err
		}
	}
	if r.concurrencyKey != nil {
		key, err := render(r.concurrencyKey, in, true)
		if err != nil {
			return d, err
		}
		d.ConcurrencyKey = r.name + "/" + key
	}
	d.Memo = map[string]any{
		contract.MemoEventID: in.ev.ID(), contract.MemoEventType: in.ev.Type(), contract.MemoEventSource: in.ev.Source(),
	}
	for k, t := range r.memo {
		if d.Memo[k], err = render(t, in, false); err != nil {
			return d, err
		}
	}
	if len(r.attrs) > 0 {
		d.SearchAttributes = map[string]any{}
		for k, t := range r.attrs {
			if d.SearchAttributes[k], err = render(t, in, false); err != nil {
				return d, err
			}
		}
	}
	if r.action == Signal || r.action == SignalWithStart {
		if r.signalArgsSet {
			if d.SignalArgs, err = argValues(r.signalArgs, in); err != nil {
				return d, err
			}
		} else {
			d.SignalArg = in.workflowEvent()
		}
	}
	if r.action == Signal || r.action == Cancel {
		return d, nil
	}
	if r.argsSet {
		d.Args, err = argValues(r.args, in)
		return d, err
	}
	switch r.inputMode {
	case "event":
		d.Input = in.workflowEvent()
	case "data":
		d.Input = rawJSON(in.ev.Data())
	case "map":
		m := map[string]any{}
		for k, prg := range r.inputMap {
			out, _, err := prg.Eval(in.activation())
			if err != nil {
				return d, fmt.Errorf("input_map.%s: %v", k, err)
			}
			v, err := out.ConvertToNative(reflect.TypeFor[*structpb.Value]())
			if err != nil {
				return d, fmt.Errorf("input_map.%s: %v is not JSON-like: %v", k, out, err)
			}
			m[k] = v.(*structpb.Value).AsInterface()
		}
		d.Input = m
	}
	return d, nil
}

// render executes t over the event; required templates must not render empty.
func render(t *template.Template, in *input, required bool) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.Execute(&b, in.tmpl); err != nil {
		return "", fmt.Errorf("%s: %v", t.Name(), cleanTemplateError(err))
	}
	s := b.String()
	if required && strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s rendered empty", t.Name())
	}
	if strings.Contains(s, "<no value>") {
		return "", fmt.Errorf("%s: a field it reads is missing (got %q)", t.Name(), s)
	}
	return s, nil
}

// cleanTemplateError turns "template: id:1:20: executing \"id\" at <.data.user_id>: map
// has no entry for key \"user_id\"" into "data field user_id is missing (at <.data.user_id>)".
func cleanTemplateError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "map has no entry for key "); i >= 0 {
		key := strings.Trim(msg[i+len("map has no entry for key "):], `"`)
		at := ""
		if j := strings.Index(msg, " at <"); j >= 0 {
			at = msg[j+1 : strings.Index(msg[j:], ">")+j+1]
		}
		return fmt.Sprintf("field %s is missing (%s)", key, at)
	}
	if strings.Contains(msg, "nil pointer evaluating") || strings.Contains(msg, "can't evaluate field") {
		return "the event has no such field: " + msg
	}
	return msg
}

// rawJSON is event data handed to a workflow as is (input: data).
type rawJSON []byte

// MarshalJSON returns the data unchanged ("null" when there is none).
func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}
