// Package routing decides what the bridge does with an event: which workflow it starts,
// signals or cancels, under which id. Deciding is a pure function of the event, so it is
// table-tested without any server.
package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
)

// ErrUnroutable is wrapped by every error that means an event can never be routed as it
// is (a field the workflow id needs is missing, say): the bridge dead-letters it.
var ErrUnroutable = errors.New("unroutable event")

// Route maps one event type onto one Temporal action.
type Route struct {
	Name         string
	EventType    string
	Action       Action
	WorkflowType string // the workflow to start (Start, SignalWithStart)
	Signal       string // the signal to send (Signal, SignalWithStart)
	// IDPrefix and IDFields make the workflow id: the prefix, then the named string
	// fields of the event's data joined by "-", with "/" in them replaced by "-".
	IDPrefix string
	IDFields []string
}

// Decision is one thing to do for one event.
type Decision struct {
	Route        string
	Action       Action
	WorkflowType string
	WorkflowID   string
	Signal       string
}

// Table is an immutable set of routes, safe for concurrent use.
type Table struct {
	byType map[string][]Route
}

// NewTable checks routes and indexes them by event type.
func NewTable(routes []Route) (*Table, error) {
	t := &Table{byType: map[string][]Route{}}
	var errs []error
	for _, r := range routes {
		if err := r.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		t.byType[r.EventType] = append(t.byType[r.EventType], r)
	}
	return t, errors.Join(errs...)
}

func (r Route) check() error {
	if r.Name == "" || r.EventType == "" || len(r.IDFields) == 0 {
		return fmt.Errorf("route %q: name, event type and id fields are required", r.Name)
	}
	if err := events.CheckType(r.EventType); err != nil {
		return fmt.Errorf("route %q: %w", r.Name, err)
	}
	needWorkflow := r.Action == Start || r.Action == SignalWithStart
	needSignal := r.Action == Signal || r.Action == SignalWithStart
	switch {
	case r.Action != Start && r.Action != Signal && r.Action != SignalWithStart && r.Action != Cancel:
		return fmt.Errorf("route %q: action %q is not start, signal, signal_with_start or cancel", r.Name, r.Action)
	case needWorkflow && r.WorkflowType == "":
		return fmt.Errorf("route %q: %s needs a workflow type", r.Name, r.Action)
	case needSignal && r.Signal == "":
		return fmt.Errorf("route %q: %s needs a signal name", r.Name, r.Action)
	}
	return nil
}

// EventTypes lists the event types that have at least one route.
func (t *Table) EventTypes() []string {
	out := make([]string, 0, len(t.byType))
	for typ := range t.byType {
		out = append(out, typ)
	}
	return out
}

// Decide returns what to do with ev: nothing (no route takes its type), or one decision
// per matching route. Errors wrap ErrUnroutable.
func (t *Table) Decide(ev events.Event) ([]Decision, error) {
	routes := t.byType[ev.Type()]
	if len(routes) == 0 {
		return nil, nil
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data(), &data); err != nil {
		return nil, fmt.Errorf("%w: %s data is not a JSON object: %v", ErrUnroutable, ev.Type(), err)
	}
	out := make([]Decision, 0, len(routes))
	for _, r := range routes {
		id, err := r.workflowID(data)
		if err != nil {
			return nil, fmt.Errorf("%w: route %s: %v", ErrUnroutable, r.Name, err)
		}
		out = append(out, Decision{Route: r.Name, Action: r.Action, WorkflowType: r.WorkflowType, WorkflowID: id, Signal: r.Signal})
	}
	return out, nil
}

func (r Route) workflowID(data map[string]any) (string, error) {
	parts := make([]string, 0, len(r.IDFields))
	for _, f := range r.IDFields {
		v, ok := data[f].(string)
		if !ok || v == "" {
			return "", fmt.Errorf("data field %q (part of the workflow id) is missing or not a non-empty string", f)
		}
		parts = append(parts, strings.ReplaceAll(v, "/", "-"))
	}
	return r.IDPrefix + strings.Join(parts, "-"), nil
}

// Default is the contract's routing table.
func Default() []Route {
	return []Route{
		{Name: "user-signedup", EventType: "user.signedup", Action: Start, WorkflowType: workflows.UserOnboardingWorkflow, IDPrefix: "onboarding-", IDFields: []string{"user_id"}},
		{Name: "email-verified", EventType: "email.verified", Action: Signal, Signal: workflows.SignalEmailVerified, IDPrefix: "onboarding-", IDFields: []string{"user_id"}},
		{Name: "stripe-paid", EventType: "stripe.paid", Action: Start, WorkflowType: workflows.PaymentProcessingWorkflow, IDPrefix: "payment-", IDFields: []string{"payment_id"}},
		{Name: "blueprint-pushed", EventType: "blueprint.pushed", Action: Start, WorkflowType: workflows.BlueprintDeployWorkflow, IDPrefix: "deploy-", IDFields: []string{"repository", "commit_sha"}},
		{Name: "connector-sync-requested", EventType: "connector.sync.requested", Action: Start, WorkflowType: workflows.ConnectorSyncWorkflow, IDPrefix: "connector-sync-", IDFields: []string{"connector_id"}},
	}
}
