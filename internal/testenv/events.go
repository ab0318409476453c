package testenv

import (
	"context"
	"sync"

	"github.com/flowbridge/flowbridge/internal/events"
)

// Events is an in-memory publisher for tests of activities: it keeps every event it is
// given, and answers like the stream does, reporting a repeated id as a duplicate. Tests
// that need the real stream use StartNATS and events.Publisher instead.
type Events struct {
	mu    sync.Mutex
	calls []events.Event
	seen  map[string]bool
}

// Publish records ev.
func (e *Events) Publish(_ context.Context, ev events.Event) (events.PublishResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	e.calls = append(e.calls, ev.Clone())
	dup := e.seen[ev.ID()]
	e.seen[ev.ID()] = true
	return events.PublishResult{Sequence: uint64(len(e.calls)), Duplicate: dup}, nil
}

// Published returns every event published, repeats included, in order.
func (e *Events) Published() []events.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]events.Event(nil), e.calls...)
}

// Stored returns what a stream would hold: each id once, in order of first publication.
func (e *Events) Stored() []events.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []events.Event
	seen := map[string]bool{}
	for _, ev := range e.calls {
		if !seen[ev.ID()] {
			seen[ev.ID()] = true
			out = append(out, ev)
		}
	}
	return out
}

// About returns the stored events whose subject is workflowID, in order.
func (e *Events) About(workflowID string) []events.Event {
	var out []events.Event
	for _, ev := range e.Stored() {
		if ev.Subject() == workflowID {
			out = append(out, ev)
		}
	}
	return out
}
