// Package routing decides what the bridge does with an event: which workflows it starts,
// signals or cancels, under which ids, with which input. Routes are data — a YAML file
// (default.yaml is the contract's table) with CEL filters and Go templates — and deciding
// is a pure function of the event, table-tested without any server.
package routing

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/time/rate"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// Action is what a route does in Temporal.
type Action string

// Actions.
const (
	Start           Action = "start"
	Signal          Action = "signal"
	SignalWithStart Action = "signal_with_start"
	Cancel          Action = "cancel"
	// Ignore matches and does nothing: it marks event types (results of workflows, say)
	// as deliberately unrouted when the file dead-letters unmatched events.
	Ignore Action = "ignore"
)

// ErrUnroutable is wrapped by every error that means an event can never be routed as it
// is (a field the workflow id needs is missing, say): the bridge dead-letters it.
var ErrUnroutable = errors.New("unroutable event")

// Decision is one thing to do for one event: everything the bridge needs for one
// Temporal call.
type Decision struct {
	Route        string
	Action       Action
	WorkflowType string // Start, SignalWithStart
	WorkflowID   string
	Signal       string // Signal, SignalWithStart
	// TaskQueue is where a started workflow runs; empty means the bridge's own.
	TaskQueue string
	// Input is a started workflow's input: a contract.Event (input: event), the raw
	// data (input: data) or a mapped object (input: map).
	Input any
	// Args, when not nil, are a start's positional arguments (the route's args), each one
	// payload, and Input is unused; empty means none.
	Args []any
	// SignalArg is a signal's argument: the whole event as a contract.Event, so the
	// workflow can drop a signal it has seen (workflows.SignalInbox).
	SignalArg any
	// SignalArgs, when not nil, are the signal's arguments instead (the route's
	// signal_args, one of which carries the event id).
	SignalArgs       []any
	Memo             map[string]any
	SearchAttributes map[string]any
	RunTimeout       time.Duration // 0: none
	ExecutionTimeout time.Duration // 0: none
	ReusePolicy      enumspb.WorkflowIdReusePolicy
	ConflictPolicy   enumspb.WorkflowIdConflictPolicy
	// Limiter, when set, bounds how often this route calls Temporal; shared by every
	// decision of the route.
	Limiter *rate.Limiter
	// ConcurrencyKey and ConcurrencyLimit, when the limit is set, bound how many calls for
	// one key are in flight at once.
	ConcurrencyKey   string
	ConcurrencyLimit int
	// Window, when set, holds the event back (a debounce or a batch) instead of acting on
	// it now: the bridge acts once the window closes (JoinBatch joins a batch's decisions).
	Window *Window
	// BatchOf are the ids of the events a batch's decision delivers (JoinBatch), in order:
	// its request id is derived from them all, so that a batch tried again is the same
	// call and another batch is another.
	BatchOf []string
}

// Miss says why a route whose event types match did not take the event.
type Miss struct {
	Route  string
	Reason string
}

// Table is an immutable, compiled set of routes, safe for concurrent use.
type Table struct {
	routes []*route
	// deadLetterUnmatched: an event no route takes is dead-lettered rather than ignored.
	deadLetterUnmatched bool
}

// Patterns lists the event-type patterns the routes take, in file order.
func (t *Table) Patterns() []string {
	var out []string
	for _, r := range t.routes {
		out = append(out, r.patterns...)
	}
	return out
}

// SearchAttributes lists the custom search attributes the routes set, each with the
// names of the routes that set it, in file order. Their values are rendered templates,
// strings: Temporal must have them registered as Keyword or Text.
func (t *Table) SearchAttributes() map[string][]string {
	out := map[string][]string{}
	for _, r := range t.routes {
		for k := range r.attrs {
			out[k] = append(out[k], r.name)
		}
	}
	return out
}

// Decide returns what to do with ev — one decision per route that takes it — and, for
// the routes whose types match but whose filters did not, why. No decision and no error
// means the event is ignored. Errors wrap ErrUnroutable.
func (t *Table) Decide(ev events.Event) ([]Decision, []Miss, error) {
	return t.decide(ev, nil)
}

// DecideData is Decide over ev's data already decoded (events.DecodeData), so that the
// bridge decodes an event's data once for validation and routing alike.
func (t *Table) DecideData(ev events.Event, data events.Data) ([]Decision, []Miss, error) {
	return t.decide(ev, &data)
}

// decide decodes ev's data itself when data is nil, and only if a route takes ev.
func (t *Table) decide(ev events.Event, data *events.Data) ([]Decision, []Miss, error) {
	var in *input
	var decisions []Decision
	var misses []Miss
	for _, r := range t.routes {
		if !r.takes(ev.Type()) {
			continue
		}
		if in == nil {
			if data == nil {
				d := events.DecodeData(ev.Data())
				data = &d
			}
			var err error
			if in, err = newInput(ev, *data); err != nil {
				return nil, nil, err
			}
		}
		ok, why := r.matches(in)
		if !ok {
			misses = append(misses, Miss{Route: r.name, Reason: why})
			continue
		}
		d, err := r.decide(in)
		if err != nil {
			return nil, misses, fmt.Errorf("%w: route %s: %v", ErrUnroutable, r.name, err)
		}
		decisions = append(decisions, d)
	}
	if len(decisions) == 0 && t.deadLetterUnmatched {
		return nil, misses, fmt.Errorf("%w: no route takes %s (unmatched: dead_letter)%s", ErrUnroutable, ev.Type(), describeMisses(misses))
	}
	return decisions, misses, nil
}

func describeMisses(ms []Miss) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "; %s: %s", m.Route, m.Reason)
	}
	return b.String()
}

// input is an event as routes see it: the template data and, built on the first CEL
// evaluation, the CEL activation. Both read the one decoded data.
type input struct {
	ev   events.Event
	data any            // events.Data.Value: json.Number numbers
	tmpl map[string]any // .id .type .source .subject .time .data .ext
	cel  map[string]any // event, data; nil until a filter or input_map runs
}

func newInput(ev events.Event, data events.Data) (*input, error) {
	if data.Err != nil {
		return nil, fmt.Errorf("%w: %s data is not JSON: %v", ErrUnroutable, ev.Type(), data.Err)
	}
	in := &input{ev: ev, data: data.Value}
	exts := ev.Extensions()
	in.tmpl = make(map[string]any, 8)
	ext := make(map[string]any, len(exts))
	for k, v := range exts {
		ext[k] = fmt.Sprint(v)
	}
	in.tmpl["ext"] = ext
	in.tmpl["data"] = data.Value // templates print json.Number exactly: 1000000, not 1e+06
	addAttributes(in.tmpl, ev)
	return in, nil
}

// addAttributes sets the event's context attributes in m.
func addAttributes(m map[string]any, ev events.Event) {
	m["id"], m["type"], m["source"], m["subject"] = ev.ID(), ev.Type(), ev.Source(), ev.Subject()
	m["datacontenttype"], m["time"] = ev.DataContentType(), ""
	if !ev.Time().IsZero() {
		m["time"] = ev.Time().UTC().Format(time.RFC3339Nano)
	}
}

// activation is what CEL programs evaluate over: event (the attributes and extensions)
// and data. Data is the shared decoded value: celAdapter reads its json.Number numbers
// as CEL doubles, as JSON's own numbers would be, so nothing is decoded or copied again.
func (in *input) activation() map[string]any {
	if in.cel == nil {
		ext := in.tmpl["ext"].(map[string]any)
		event := make(map[string]any, len(in.tmpl)+len(ext))
		for k, v := range ext {
			event[k] = v
		}
		for k, v := range in.tmpl {
			if k != "data" && k != "ext" {
				event[k] = v // the attributes, which win over an extension of the same name
			}
		}
		in.cel = map[string]any{"event": event, "data": in.data}
	}
	return in.cel
}

// workflowEvent is the event as workflows receive it (input: event).
func (in *input) workflowEvent() contract.Event {
	ev := in.ev
	return contract.Event{
		ID:            ev.ID(),
		Type:          ev.Type(),
		Source:        ev.Source(),
		Subject:       ev.Subject(),
		Time:          ev.Time(),
		CorrelationID: events.CorrelationID(ev),
		Data:          ev.Data(),
	}
}
