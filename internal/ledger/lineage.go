package ledger

import (
	"context"

	"github.com/flowbridge/flowbridge/internal/store"
)

// Bounds of a lineage tree, so that one request cannot walk the whole ledger.
const (
	MaxDepth = 8   // levels of caused events below the one asked for
	MaxNodes = 500 // events in one tree
)

// Node is an event in a lineage tree: its ledger row, and the events it caused — the
// result events of the workflows it started, whose causationid is its id — recursively.
type Node struct {
	store.LedgerEvent
	// Attempts are the event's recorded deliveries; only the root's are looked up.
	Attempts []store.LedgerAttempt `json:"attempts,omitempty"`
	Children []*Node               `json:"children"`
	// Truncated is set on a node whose children were not all looked up, because the tree
	// reached MaxDepth or MaxNodes.
	Truncated bool `json:"truncated,omitempty"`
}

// Lineage returns the event id with its deliveries and the events it caused, a level at
// a time (one query per level), within MaxDepth and MaxNodes. An unknown id returns an
// error wrapping store.ErrNotFound.
func Lineage(ctx context.Context, q store.Ledger, id string) (*Node, error) {
	ev, err := q.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	root := &Node{LedgerEvent: ev, Children: []*Node{}}
	if root.Attempts, err = q.Attempts(ctx, id); err != nil {
		return nil, err
	}
	seen := map[string]bool{id: true} // a causation cycle would otherwise never end
	level := []*Node{root}
	for depth := 1; len(level) > 0; depth++ {
		if depth > MaxDepth || len(seen) >= MaxNodes {
			for _, n := range level {
				n.Truncated = true
			}
			break
		}
		byID := make(map[string]*Node, len(level))
		ids := make([]string, 0, len(level))
		for _, n := range level {
			byID[n.EventID] = n
			ids = append(ids, n.EventID)
		}
		kids, err := q.Children(ctx, ids...)
		if err != nil {
			return nil, err
		}
		if len(kids) >= store.MaxLedgerChildren {
			for _, n := range level {
				n.Truncated = true
			}
		}
		var next []*Node
		for _, k := range kids {
			parent := byID[k.CausationID]
			switch {
			case parent == nil || seen[k.EventID]:
				continue
			case len(seen) >= MaxNodes:
				parent.Truncated = true
				continue
			}
			seen[k.EventID] = true
			c := &Node{LedgerEvent: k, Children: []*Node{}}
			parent.Children = append(parent.Children, c)
			next = append(next, c)
		}
		level = next
	}
	return root, nil
}
