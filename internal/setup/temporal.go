package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/routing"
)

// SearchAttribute is a custom search attribute flowbridge needs registered in Temporal.
type SearchAttribute struct {
	Name string
	// Type is what it is registered as when missing; an existing one may have any of
	// Accept (default: Type only).
	Type   enumspb.IndexedValueType
	Accept []enumspb.IndexedValueType
	// SetBy says who sets it: "flowbridge", "route big-payments".
	SetBy string
}

// SearchAttributes are the custom search attributes flowbridge needs: the Keyword
// attributes of the event that started a workflow (contract.SearchAttributeEventID, ...),
// and every one a route of routes sets. A route's values are rendered templates, strings,
// so Keyword or Text will do; a missing one is registered as Keyword.
func SearchAttributes(routes *routing.Table) []SearchAttribute {
	out := []SearchAttribute{
		{Name: contract.SearchAttributeEventID, Type: enumspb.INDEXED_VALUE_TYPE_KEYWORD, SetBy: "flowbridge"},
		{Name: contract.SearchAttributeEventType, Type: enumspb.INDEXED_VALUE_TYPE_KEYWORD, SetBy: "flowbridge"},
		{Name: contract.SearchAttributeCorrelationID, Type: enumspb.INDEXED_VALUE_TYPE_KEYWORD, SetBy: "flowbridge"},
	}
	byRoutes := routes.SearchAttributes()
	names := make([]string, 0, len(byRoutes))
	for name := range byRoutes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.ContainsFunc(out, func(a SearchAttribute) bool { return a.Name == name }) {
			continue // one of flowbridge's own: Keyword
		}
		noun := "route "
		if len(byRoutes[name]) > 1 {
			noun = "routes "
		}
		out = append(out, SearchAttribute{
			Name:   name,
			Type:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			Accept: []enumspb.IndexedValueType{enumspb.INDEXED_VALUE_TYPE_KEYWORD, enumspb.INDEXED_VALUE_TYPE_TEXT},
			SetBy:  noun + strings.Join(byRoutes[name], ", "),
		})
	}
	return out
}

// PlanSearchAttributes compares the custom search attributes of namespace with want. It
// only lists them (ListSearchAttributes); applying registers the missing ones
// (AddSearchAttributes). Temporal cannot change the type of a search attribute, nor let a
// workflow set a system one: both are refused.
func PlanSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want []SearchAttribute) (Plan, error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return Plan{}, explainTemporalErr(fmt.Errorf("list the search attributes of Temporal namespace %s: %w", namespace, err))
	}
	var p Plan
	for _, a := range want {
		object := fmt.Sprintf("%s %s in namespace %s", KindSearchAttribute, a.Name, namespace)
		if a.SetBy != "flowbridge" {
			object += " (set by " + a.SetBy + ")"
		}
		accept := a.Accept
		if len(accept) == 0 {
			accept = []enumspb.IndexedValueType{a.Type}
		}
		if have, ok := resp.GetSystemAttributes()[a.Name]; ok {
			p.Changes = append(p.Changes, Change{Kind: KindSearchAttribute, Object: object, Action: Refuse, Fields: []Field{{Name: "type", From: "system " + have.String(), To: a.Type.String()}},
				Why: fmt.Sprintf("%s is a Temporal system search attribute, which workflows cannot set: rename it in the routes file.", a.Name)})
			continue
		}
		have, ok := resp.GetCustomAttributes()[a.Name]
		switch {
		case !ok:
			p.Changes = append(p.Changes, Change{Kind: KindSearchAttribute, Object: object, Action: Create, Fields: []Field{{Name: "type", To: a.Type.String()}},
				apply: func(ctx context.Context) error {
					_, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
						Namespace:        namespace,
						SearchAttributes: map[string]enumspb.IndexedValueType{a.Name: a.Type},
					})
					return explainTemporalErr(err)
				}})
		case slices.Contains(accept, have):
			p.Unchanged = append(p.Unchanged, object)
		default:
			types := make([]string, len(accept))
			for i, t := range accept {
				types[i] = t.String()
			}
			p.Changes = append(p.Changes, Change{Kind: KindSearchAttribute, Object: object, Action: Refuse, Fields: []Field{{Name: "type", From: have.String(), To: a.Type.String()}},
				Why: fmt.Sprintf("%s sets it to a string, which needs %s; Temporal cannot change a search attribute's type: rename it, or remove it (temporal operator search-attribute remove --name %s) and run bridge setup again.",
					a.SetBy, strings.Join(types, " or "), a.Name)})
		}
	}
	return p, nil
}

// explainTemporalErr adds what to do when Temporal does not let this identity manage
// search attributes.
func explainTemporalErr(err error) error {
	var denied *serviceerror.PermissionDenied
	var unimplemented *serviceerror.Unimplemented
	if errors.As(err, &denied) || errors.As(err, &unimplemented) {
		return fmt.Errorf("%w: bridge setup needs a Temporal identity allowed to list and add search attributes (the operator API); where it has none (Temporal Cloud), add them as Keyword in the Cloud UI or with tcld, then run bridge setup again", err)
	}
	return err
}

// CheckSearchAttributes compares want with the search attributes of namespace, for
// `bridge routes check`. Problems are what makes Temporal refuse a start, so the bridge
// dead-letters its event: an attribute a route sets that is not registered, or one of the
// wrong type. Warnings are flowbridge's own attributes missing: the bridge then starts
// workflows without them, unsearchable by event or correlation id.
func CheckSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want []SearchAttribute) (warnings, problems []string, err error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, nil, explainTemporalErr(fmt.Errorf("list the search attributes of Temporal namespace %s: %w", namespace, err))
	}
	for _, a := range want {
		accept := a.Accept
		if len(accept) == 0 {
			accept = []enumspb.IndexedValueType{a.Type}
		}
		have, ok := resp.GetCustomAttributes()[a.Name]
		_, system := resp.GetSystemAttributes()[a.Name]
		switch {
		case system:
			problems = append(problems, fmt.Sprintf("search attribute %s (set by %s) is a Temporal system search attribute, which workflows cannot set: rename it", a.Name, a.SetBy))
		case !ok && a.SetBy == "flowbridge":
			warnings = append(warnings, fmt.Sprintf("search attribute %s is not registered in namespace %s: the bridge starts workflows without flowbridge's search attributes; run bridge setup", a.Name, namespace))
		case !ok:
			problems = append(problems, fmt.Sprintf("search attribute %s (set by %s) is not registered in namespace %s: Temporal refuses those starts and their events are dead-lettered; run bridge setup", a.Name, a.SetBy, namespace))
		case !slices.Contains(accept, have):
			problems = append(problems, fmt.Sprintf("search attribute %s (set by %s) is %s in namespace %s, but its value is a string, which needs Keyword or Text", a.Name, a.SetBy, have, namespace))
		}
	}
	return warnings, problems, nil
}
