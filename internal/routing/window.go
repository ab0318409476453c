package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"text/template"
	"time"
)

// Windows: a route may hold its events back instead of acting on each at once.
//
//   - debounce: the last event of a burst (per key) starts or signals once no event of
//     that key has come for quiet; the earlier ones are folded into it, never delivered.
//   - batch: the events of a key are gathered and delivered together, as one list
//     argument, when size of them are there or window after the oldest, whichever first.
//
// The bridge keeps the held events in JetStream (EVENTS_DEBOUNCE, EVENTS_BATCH), never in
// its memory, so a bridge that dies mid-window loses none: another finishes the window.

// WindowKind says how a route holds its events.
type WindowKind string

// Window kinds.
const (
	Debounce WindowKind = "debounce"
	Batch    WindowKind = "batch"
)

// Window is how a decision's event is held before the route acts on it. Decisions
// without one act at once.
type Window struct {
	Kind WindowKind
	// Key is the rendered key (debounce.key, batch.key); Hash is the hash of the route
	// and the key, the subject token of the key's held events.
	Key, Hash string
	// Quiet is a debounce's quiet period: no event of the key for that long ends a burst.
	Quiet time.Duration
	// Size and Wait end a batch: Size events, or Wait after its oldest.
	Size int
	Wait time.Duration
}

// debounceSpec is a route's debounce as written.
type debounceSpec struct {
	Key   string   `yaml:"key"`   // template; required
	Quiet duration `yaml:"quiet"` // required, positive
}

// batchSpec is a route's batch as written.
type batchSpec struct {
	Key    string   `yaml:"key"`    // template; Optional: defaults to one batch for the whole route
	Size   int      `yaml:"size"`   // at least 1 (1 is no batching, but allowed)
	Window duration `yaml:"window"` // required, positive
}

// Longest waits a window may have: held events stay on a stream for as long, and a
// longer wait is more likely a typo (30h for 30m) than a wish.
const (
	maxWindowWait = 24 * time.Hour
	maxBatchSize  = 1000
)

// compiled window of a route.
type window struct {
	kind  WindowKind
	key   *template.Template // nil: one key for the route (batch without key)
	quiet time.Duration
	size  int
	wait  time.Duration
}

// compileWindow checks and compiles the debounce or batch of rs into r.
func compileWindow(r *route, rs routeSpec, compileTmpl func(field, text string) *template.Template, fail func(string, ...any)) {
	if rs.Debounce == nil && rs.Batch == nil {
		return
	}
	if rs.Debounce != nil && rs.Batch != nil {
		fail("debounce and batch are mutually exclusive: debounce keeps the last event of a burst, batch delivers them all as one list")
		return
	}
	switch rs.Action {
	case Start, Signal, SignalWithStart:
	default:
		fail("debounce and batch apply to start, signal and signal_with_start, not %s", rs.Action)
		return
	}
	if d := rs.Debounce; d != nil {
		if d.Key == "" {
			fail("debounce.key is required: a template naming what a burst is of, such as '{{ .data.user_id }}'")
		}
		if d.Quiet <= 0 || time.Duration(d.Quiet) > maxWindowWait {
			fail("debounce.quiet must be a duration above 0 and at most %s, such as 30s", maxWindowWait)
		}
		r.window = &window{kind: Debounce, key: compileTmpl("debounce.key", d.Key), quiet: time.Duration(d.Quiet)}
		return
	}
	b := rs.Batch
	if b.Size < 1 || b.Size > maxBatchSize {
		fail("batch.size must be from 1 to %d: the most events one list carries", maxBatchSize)
	}
	if b.Window <= 0 || time.Duration(b.Window) > maxWindowWait {
		fail("batch.window must be a duration above 0 and at most %s: the longest an event waits for its batch", maxWindowWait)
	}
	// Each event gives one item of the list: its one start argument, its one signal
	// argument.
	if r.argsSet && len(rs.Args) != 1 {
		fail("batch: args must have exactly one entry, each event's item of the list the workflow gets (got %d)", len(rs.Args))
	}
	if r.signalArgsSet && len(rs.SignalArgs) != 1 {
		fail("batch: signal_args must have exactly one entry, each event's item of the list the signal carries (got %d)", len(rs.SignalArgs))
	}
	r.window = &window{kind: Batch, key: compileTmpl("batch.key", b.Key), size: b.Size, wait: time.Duration(b.Window)}
}

// decideWindow renders the window of one decision.
func (w *window) decide(route string, in *input) (*Window, error) {
	key, err := render(w.key, in, w.key != nil)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(route + "\x00" + key))
	return &Window{Kind: w.kind, Key: key, Hash: hex.EncodeToString(h[:16]), Quiet: w.quiet, Size: w.size, Wait: w.wait}, nil
}

// Windows reports which window kinds the routes use, so the bridge opens only the
// streams it needs.
func (t *Table) Windows() map[WindowKind]bool {
	out := map[WindowKind]bool{}
	for _, r := range t.routes {
		if r.window != nil {
			out[r.window.kind] = true
		}
	}
	return out
}

// JoinBatch joins the decisions of one route for the events of one batch, in order, into
// the one decision that delivers them: the first event's (workflow id, memo, search
// attributes), whose start argument is the list of each event's one start argument
// (args[0], else its input) and whose signal argument is the list of each event's one
// signal argument (signal_args[0], else the event). The decisions must all be of one
// batch route, eventIDs the ids of their events; their windows are dropped.
func JoinBatch(eventIDs []string, ds []Decision) (Decision, error) {
	if len(ds) == 0 || len(ds) != len(eventIDs) {
		return Decision{}, fmt.Errorf("batch of %d events with %d ids", len(ds), len(eventIDs))
	}
	d := ds[0]
	d.Window = nil
	var starts, signals []any
	d.BatchOf = slices.Clone(eventIDs)
	for _, e := range ds {
		if e.Route != d.Route {
			return Decision{}, fmt.Errorf("batch mixes routes %s and %s", d.Route, e.Route)
		}

		switch {
		case len(e.Args) == 1:
			starts = append(starts, e.Args[0])
		default:
			starts = append(starts, e.Input)
		}
		switch {
		case len(e.SignalArgs) == 1:
			signals = append(signals, e.SignalArgs[0])
		default:
			signals = append(signals, e.SignalArg)
		}
	}
	if d.Action != Signal {
		d.Args, d.Input = []any{starts}, nil
	}
	if d.Action != Start {
		d.SignalArgs, d.SignalArg = []any{signals}, nil
	}
	return d, nil
}
