// Package setup provisions what flowbridge needs on its servers, as `bridge setup` does:
// the JetStream streams EVENTS, EVENTS_DLQ, EVENTS_WAITING, EVENTS_DEBOUNCE and
// EVENTS_BATCH, their durable consumers (bridge, bridge-waiting, bridge-debounce,
// bridge-batch), and Temporal's custom search attributes.
//
// A Plan compares each with its configuration and says what differs, field by field
// ("stream EVENTS: num_replicas 1 -> 3"); Apply creates what is missing and updates what
// differs in a field flowbridge owns, so a second run finds nothing to do. Fields
// flowbridge does not own are left as they are. A change NATS or Temporal cannot make —
// a stream's storage, a consumer's ack policy, a search attribute's type — is refused
// with what to do, and then nothing is applied.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Action is what a Change does.
type Action string

// Actions.
const (
	Create Action = "create"
	Update Action = "update"
	// Refuse is a difference that cannot be applied: the servers cannot make it.
	Refuse Action = "refuse"
)

// Field is one field of a change, named as `nats stream info --json`, `nats consumer
// info --json` or the temporal CLI shows it. From is empty on a create.
type Field struct {
	Name, From, To string
}

// Kinds of object a Change is about.
const (
	KindStream          = "stream"
	KindConsumer        = "consumer"
	KindSearchAttribute = "search attribute"
)

// Change is one object to create or update, or a difference that cannot be applied.
type Change struct {
	// Kind is KindStream, KindConsumer or KindSearchAttribute.
	Kind string
	// Object names it: "stream EVENTS", "consumer EVENTS > bridge", "search attribute
	// FlowbridgeEventId in namespace default".
	Object string
	Action Action
	// Fields are what it is created with (Create), what changes (Update), or what cannot
	// (Refuse).
	Fields []Field
	// Why says, for a Refuse, why the change cannot be made and what to do.
	Why   string
	apply func(context.Context) error
}

// Lines are the change as printed, one line per field of an update or refusal.
func (c Change) Lines() []string {
	switch c.Action {
	case Create:
		parts := make([]string, len(c.Fields))
		for i, f := range c.Fields {
			parts[i] = f.Name + " " + f.To
		}
		line := c.Object + ": create"
		if len(parts) > 0 {
			line += " with " + strings.Join(parts, ", ")
		}
		return []string{line}
	case Refuse:
		var out []string
		for _, f := range c.Fields {
			out = append(out, fmt.Sprintf("%s: %s %s -> %s: cannot be changed", c.Object, f.Name, f.From, f.To))
		}
		return append(out, "  "+c.Why)
	}
	out := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		out[i] = fmt.Sprintf("%s: %s %s -> %s", c.Object, f.Name, f.From, f.To)
	}
	return out
}

// Plan is what differs between the servers and the configuration.
type Plan struct {
	// Changes are the differences, in the order they are applied: streams before their
	// consumers.
	Changes []Change
	// Unchanged names the objects that are as configured.
	Unchanged []string
}

// Add appends q's changes and unchanged objects to p.
func (p *Plan) Add(q Plan) {
	p.Changes = append(p.Changes, q.Changes...)
	p.Unchanged = append(p.Unchanged, q.Unchanged...)
}

// Refused returns the changes that cannot be applied.
func (p Plan) Refused() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Action == Refuse {
			out = append(out, c)
		}
	}
	return out
}

// Write prints the plan for people: each change, then each object that is as
// configured.
func (p Plan) Write(w io.Writer) {
	for _, c := range p.Changes {
		for _, l := range c.Lines() {
			fmt.Fprintln(w, l)
		}
	}
	for _, o := range p.Unchanged {
		fmt.Fprintf(w, "%s: as configured\n", o)
	}
}

// ErrRefused is wrapped by Apply's error when the plan holds a change the servers cannot
// make; nothing was applied.
var ErrRefused = errors.New("changes the servers cannot make")

// Apply makes the changes in order. It changes nothing if any is refused (ErrRefused),
// and stops at the first that fails, saying how many were made before it.
func (p Plan) Apply(ctx context.Context) error {
	if err := p.refusedErr(); err != nil {
		return err
	}
	done := 0
	for _, c := range p.Changes {
		if err := c.apply(ctx); err != nil {
			return fmt.Errorf("%s %s: %w (%d of %d changes were made before it; run bridge setup again once it is fixed)", c.Action, c.Object, err, done, len(p.Changes))
		}
		done++
	}
	return nil
}

func (p Plan) refusedErr() error {
	var parts []string
	for _, c := range p.Refused() {
		names := make([]string, len(c.Fields))
		for i, f := range c.Fields {
			names[i] = f.Name
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Object, strings.Join(names, ", ")))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; nothing was changed (the lines above say why, and what to do)", ErrRefused, strings.Join(parts, ", "))
}
