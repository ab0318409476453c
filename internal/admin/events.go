package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/store"
)

const eventsUsage = `usage: bridge events show [--json] ID   what the bridge did with event ID, and the events it caused
       bridge events ls [flags]           recorded events, newest first
flags of ls:
  --type T       only events of type T (user.signedup)
  --outcome O    only events whose outcome is O: routed, duplicate, ignored, dead-lettered, retried
  --since WHEN   received at or after WHEN: 2026-03-01T12:00:00Z, 2026-03-01, or a duration ago (90m, 24h, 7d)
  --until WHEN   received before WHEN
  --limit N      at most N events (default 50, at most 1000)
Reads the event ledger at DATABASE_URL.
`

func eventsCommand() command {
	return command{summary: "what the bridge did with events: show ID, ls (bridge events help)", run: runEvents}
}

func runEvents(ctx context.Context, io IO, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, eventsUsage)
		return fmt.Errorf("%w: bridge events needs show or ls", ErrUsage)
	}
	switch args[0] {
	case "show":
		return eventsShow(ctx, io, args[1:])
	case "ls":
		return eventsList(ctx, io, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(io.Stdout, eventsUsage)
		return nil
	}
	fmt.Fprint(io.Stderr, eventsUsage)
	return fmt.Errorf("%w: unknown command bridge events %q", ErrUsage, args[0])
}

func eventsFlags(io IO, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("bridge events "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() { fmt.Fprint(io.Stderr, eventsUsage) }
	return fs
}

func eventsShow(ctx context.Context, io IO, args []string) error {
	fs := eventsFlags(io, "show")
	asJSON := fs.Bool("json", false, "print the event and its lineage as JSON, as GET /events/{id} does")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() != 1 {
		fmt.Fprint(io.Stderr, eventsUsage)
		return fmt.Errorf("%w: bridge events show needs one event id", ErrUsage)
	}
	id := fs.Arg(0)
	if err := ledger.CheckID(id); err != nil {
		return fmt.Errorf("%w: bridge events show %q: %w; an event id is 1 to %d bytes of printable text", ErrUsage, ledger.ShowID(id), err, events.MaxIDBytes)
	}
	ctx, cancel := eventsTimeout(ctx)
	defer cancel()
	st, err := eventsOpen(ctx, io)
	if err != nil {
		return err
	}
	defer st.Close()
	node, err := ledger.Lineage(ctx, st.Ledger(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the event ledger has no event %s: the bridge has not received it, its outcome was dropped "+
			"(flowbridge_ledger_dropped_total), or it is older than the retention period; `bridge events ls` lists what it holds", id)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(node)
	}
	fmt.Fprintln(io.Stdout, strings.Join(eventsRender(node, true), "\n"))
	return nil
}

func eventsList(ctx context.Context, io IO, args []string) error {
	fs := eventsFlags(io, "ls")
	var f store.LedgerFilter
	var outcome, since, until string
	fs.StringVar(&f.Type, "type", "", "only events of this type")
	fs.StringVar(&outcome, "outcome", "", "only events with this outcome")
	fs.StringVar(&since, "since", "", "received at or after")
	fs.StringVar(&until, "until", "", "received before")
	fs.IntVar(&f.Limit, "limit", 50, "at most this many events")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bridge events ls takes flags only, not %q", ErrUsage, fs.Arg(0))
	}
	var errs []error
	if outcome != "" {
		f.Outcome = strings.ReplaceAll(outcome, "-", "_")
		switch f.Outcome {
		case bridge.OutcomeRouted, bridge.OutcomeDuplicate, bridge.OutcomeIgnored, bridge.OutcomeDeadLettered, bridge.OutcomeRetried:
		default:
			errs = append(errs, fmt.Errorf("--outcome %q is not one of routed, duplicate, ignored, dead-lettered, retried", outcome))
		}
	}
	now := time.Now()
	var err error
	if f.Since, err = eventsParseWhen(since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = eventsParseWhen(until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	if f.Limit < 1 || f.Limit > 1000 {
		errs = append(errs, fmt.Errorf("--limit %d must be between 1 and 1000", f.Limit))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}

	ctx, cancel := eventsTimeout(ctx)
	defer cancel()
	st, err := eventsOpen(ctx, io)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.Ledger().List(ctx, f)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		fmt.Fprintln(io.Stdout, "No events in the ledger match.")
		return nil
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED (UTC)\tID\tTYPE\tOUTCOME\tWORKFLOW")
	for _, e := range evs {
		wf := e.WorkflowID
		if wf == "" {
			wf = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", eventsStamp(e.ReceivedAt), e.EventID, e.Type, eventsSummary(e), wf)
	}
	return tw.Flush()
}

// eventsParseWhen reads an instant: RFC 3339, a date (midnight UTC), or a duration
// before now (90m, 24h, 7d). "" is the zero time: no bound.
func eventsParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-03-01T12:00:00Z), a date (2026-03-01) or a duration ago (90m, 24h, 7d)", s)
}

func eventsTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 30*time.Second)
}

func eventsOpen(ctx context.Context, io IO) (*store.Store, error) {
	url := io.Getenv("DATABASE_URL")
	if url == "" {
		url = config.DefaultDatabaseURL
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open the event ledger: %w", err)
	}
	return st, nil
}

// eventsSummary says what became of an event, for people: "routed, retried 2 times".
func eventsSummary(e store.LedgerEvent) string {
	retried := fmt.Sprintf("retried %d time", e.Retries)
	if e.Retries != 1 {
		retried += "s"
	}
	switch {
	case e.Outcome == bridge.OutcomeRetried:
		return retried + ", not settled yet"
	case e.Retries > 0:
		return strings.ReplaceAll(e.Outcome, "_", "-") + ", " + retried
	}
	return strings.ReplaceAll(e.Outcome, "_", "-")
}

func eventsStamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// eventsRender draws n and the events it caused as a tree, a line per string; the root
// gets its full record, the others their routes and error.
func eventsRender(n *ledger.Node, root bool) []string {
	lines := []string{fmt.Sprintf("%s  %s  %s", n.EventID, n.Type, eventsSummary(n.LedgerEvent))}
	detail := func(format string, args ...any) { lines = append(lines, "   "+fmt.Sprintf(format, args...)) }
	if root {
		detail("received %s UTC from %s on %s", eventsStamp(n.ReceivedAt), n.Source, n.Subject)
		if n.CausationID != "" {
			detail("caused by %s", n.CausationID)
		}
		if n.CorrelationID != "" && n.CorrelationID != n.EventID {
			detail("correlation %s", n.CorrelationID)
		}
		if n.Outcome == bridge.OutcomeIgnored && len(n.Routes) == 0 && len(n.Unmatched) == 0 {
			detail("no route takes events of type %s", n.Type)
		}
	}
	for _, r := range n.Routes {
		target := r.WorkflowID
		if r.RunID != "" {
			target += " (run " + r.RunID + ")"
		}
		detail("route %s: %s %s: %s", r.Route, r.Action, target, r.Result)
	}
	for _, m := range n.Unmatched {
		detail("route %s did not match: %s", m.Route, m.Reason)
	}
	if n.Error != "" {
		label := "error"
		if n.Outcome != bridge.OutcomeDeadLettered && n.Outcome != bridge.OutcomeRetried {
			label = "last error"
		}
		detail("%s: %s", label, n.Error)
	}
	if root {
		for _, a := range n.Attempts {
			line := fmt.Sprintf("delivery %d (stream seq %d) %s at %s", a.Delivered, a.StreamSeq, strings.ReplaceAll(a.Outcome, "_", "-"), eventsStamp(a.SettledAt))
			if a.Error != "" {
				line += ": " + a.Error
			}
			detail("%s", line)
		}
	}
	if n.Truncated {
		detail("... more caused events, not shown (the tree is cut at %d levels or %d events)", ledger.MaxDepth, ledger.MaxNodes)
	}
	for i, c := range n.Children {
		first, rest := "├─ ", "│  "
		if i == len(n.Children)-1 {
			first, rest = "└─ ", "   "
		}
		for j, l := range eventsRender(c, false) {
			if j == 0 {
				lines = append(lines, first+l)
			} else {
				lines = append(lines, rest+l)
			}
		}
	}
	return lines
}
