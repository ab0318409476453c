// Package routing decides what the bridge does with an event: which workflows it starts,
// signals or cancels, under which ids, with which input. Routes are data — a YAML file
// (default.yaml is the contract's table) with CEL filters and Go templates — and deciding
// is a pure function of the event, table-tested without any server.
package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/time/rate"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/workflows"
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
	// Input is a started workflow's input: a workflows.Event (input: event), the raw
	// data (input: data) or a mapped object (input: map).
	Input any
	// SignalArg is a signal's argument: always the whole event as a workflows.Event, so
	// the workflow can drop a signal it has seen (workflows.SignalInbox).
	SignalArg        any
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

// CheckSchemas reports every route pattern that matches no type in schemaTypes: an exact
// type without a schema, or a wildcard that matches none.
func (t *Table) CheckSchemas(schemaTypes []string) error {
	var errs []error
	for _, r := range t.routes {
		for _, p := range r.patterns {
			found := false
			for _, st := range schemaTypes {
				if matchType(p, st) {
					found = true
					break
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: event type %s has no schema (add schemas/%s.json)", r.where(), p, strings.NewReplacer("*", "X", ">", "X").Replace(p)))
			}
		}
	}
	return errors.Join(errs...)
}

// Decide returns what to do with ev — one decision per route that takes it — and, for
// the routes whose types match but whose filters did not, why. No decision and no error
// means the event is ignored. Errors wrap ErrUnroutable.
func (t *Table) Decide(ev events.Event) ([]Decision, []Miss, error) {
	var in *input
	var decisions []Decision
	var misses []Miss
	for _, r := range t.routes {
		if !r.takes(ev.Type()) {
			continue
		}
		if in == nil {
			var err error
			if in, err = newInput(ev); err != nil {
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

// input is an event as routes see it: the template data and the CEL activation.
type input struct {
	ev       events.Event
	tmpl     map[string]any // .id .type .source .subject .time .data .ext
	celEvent map[string]any
	celData  any
}

func newInput(ev events.Event) (*input, error) {
	ext := map[string]any{}
	for k, v := range ev.Extensions() {
		ext[k] = fmt.Sprint(v)
	}
	attrs := map[string]any{
		"id": ev.ID(), "type": ev.Type(), "source": ev.Source(), "subject": ev.Subject(),
		"datacontenttype": ev.DataContentType(), "time": "",
	}
	if !ev.Time().IsZero() {
		attrs["time"] = ev.Time().UTC().Format(time.RFC3339Nano)
	}
	in := &input{ev: ev, celEvent: map[string]any{}}
	for k, v := range ext {
		in.celEvent[k] = v
	}
	for k, v := range attrs {
		in.celEvent[k] = v
	}
	var tmplData any
	if data := ev.Data(); len(data) > 0 {
		// Templates get exact numbers (json.Number: 1000000, not 1e+06); CEL gets JSON's
		// native numbers, which it compares across int and double.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&tmplData); err != nil {
			return nil, fmt.Errorf("%w: %s data is not JSON: %v", ErrUnroutable, ev.Type(), err)
		}
		if err := json.Unmarshal(data, &in.celData); err != nil {
			return nil, fmt.Errorf("%w: %s data is not JSON: %v", ErrUnroutable, ev.Type(), err)
		}
	}
	in.tmpl = map[string]any{"data": tmplData, "ext": ext}
	for k, v := range attrs {
		in.tmpl[k] = v
	}
	return in, nil
}

// workflowEvent is the event as workflows receive it (input: event).
func (in *input) workflowEvent() workflows.Event {
	ev := in.ev
	return workflows.Event{
		ID:            ev.ID(),
		Type:          ev.Type(),
		Source:        ev.Source(),
		Subject:       ev.Subject(),
		Time:          ev.Time(),
		CorrelationID: events.CorrelationID(ev),
		Data:          ev.Data(),
	}
}

// matchType reports whether event type t matches pattern p, with NATS subject semantics:
// "*" matches one token, a final ">" one or more.
func matchType(p, t string) bool {
	pt, tt := strings.Split(p, "."), strings.Split(t, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || (tok != "*" && tok != tt[i]) {
			return false
		}
	}
	return len(pt) == len(tt)
}
