package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ledger"
	"github.com/flowbridge/flowbridge/internal/store"
)

func eventsCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "events",
		Short: "what the bridge did with events: show ID, ls",
		Long: `What the bridge did with events, from the event ledger at DATABASE_URL (--database-url):
show ID prints one event, what each route did with it, and the events it caused; ls lists
recorded events, newest first.`,
	}
	var db config.Database
	db.AddFlags(c.PersistentFlags(), io.Env)

	show := &cobra.Command{
		Use:   "show ID",
		Short: "what the bridge did with event ID, and the events it caused",
		Args:  cli.Args(1, 1, "one event id"),
	}
	showJSON := show.Flags().Bool("json", false, "print the event and its lineage as JSON, as GET /events/{id} does")
	show.RunE = func(c *cobra.Command, args []string) error {
		return eventsShow(c.Context(), io, &db, args[0], *showJSON)
	}

	ls := &cobra.Command{
		Use:   "ls [flags]",
		Short: "recorded events, newest first",
		Args:  cli.NoArgs(""),
	}
	var f eventsFilter
	ls.Flags().StringVar(&f.typ, "type", "", "only events of type `T` (user.signedup)")
	ls.Flags().StringVar(&f.outcome, "outcome", "", "only events whose outcome is `O`: "+outcomeNames())
	ls.Flags().StringVar(&f.since, "since", "", "received at or after `WHEN`: 2026-03-01T12:00:00Z, 2026-03-01, or a duration ago (90m, 24h, 7d)")
	ls.Flags().StringVar(&f.until, "until", "", "received before `WHEN`")
	ls.Flags().IntVar(&f.limit, "limit", 50, "at most `N` events (at most 1000)")
	lsJSON := cli.JSONFlag(ls)
	ls.RunE = func(c *cobra.Command, _ []string) error {
		return eventsList(c.Context(), io, &db, f, *lsJSON)
	}
	c.AddCommand(show, ls)
	return c
}

func eventsShow(ctx context.Context, io IO, db *config.Database, id string, asJSON bool) error {
	if err := ledger.CheckID(id); err != nil {
		return fmt.Errorf("%w: bridge events show %q: %w; an event id is 1 to %d bytes of printable text", ErrUsage, ledger.ShowID(id), err, events.MaxIDBytes)
	}
	ctx, cancel := eventsTimeout(ctx)
	defer cancel()
	st, err := eventsOpen(ctx, db)
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
	if asJSON {
		return cli.WriteJSON(io.Stdout, node)
	}
	fmt.Fprintln(io.Stdout, strings.Join(eventsRender(node, true), "\n"))
	return nil
}

// eventsFilter holds the flags of `events ls`.
type eventsFilter struct {
	typ, outcome, since, until string
	limit                      int
}

// eventsListJSON is `events ls --json`.
type eventsListJSON struct {
	Events []store.LedgerEvent `json:"events"`
}

func eventsList(ctx context.Context, io IO, db *config.Database, ff eventsFilter, asJSON bool) error {
	f := store.LedgerFilter{Type: ff.typ, Limit: ff.limit}
	var errs []error
	if ff.outcome != "" {
		f.Outcome = strings.ReplaceAll(ff.outcome, "-", "_")
		if !slices.Contains(bridge.Outcomes, f.Outcome) {
			errs = append(errs, fmt.Errorf("--outcome %q is not one of %s", ff.outcome, outcomeNames()))
		}
	}
	now := time.Now()
	var err error
	if f.Since, err = eventsParseWhen(ff.since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = eventsParseWhen(ff.until, now); err != nil {
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
	st, err := eventsOpen(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.Ledger().List(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		return cli.WriteJSON(io.Stdout, eventsListJSON{Events: append([]store.LedgerEvent{}, evs...)})
	}
	if len(evs) == 0 {
		fmt.Fprintln(io.Stdout, "No events in the ledger match.")
		return nil
	}
	style := io.Style()
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RECEIVED (UTC)\tID\tTYPE\t%s\tWORKFLOW\n", style.Plain("OUTCOME"))
	for _, e := range evs {
		wf := e.WorkflowID
		if wf == "" {
			wf = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", eventsStamp(e.ReceivedAt), e.EventID, e.Type, eventsPaint(style, e.Outcome, eventsSummary(e)), wf)
	}
	return tw.Flush()
}

// eventsPaint colours an outcome: dead letters red, what is not settled yet yellow,
// routed green. Every cell is painted, so the column stays aligned.
func eventsPaint(st cli.Style, outcome, text string) string {
	switch outcome {
	case bridge.OutcomeDeadLettered:
		return st.Bad(text)
	case bridge.OutcomeRetried:
		return st.Warn(text)
	case bridge.OutcomeRouted:
		return st.Good(text)
	}
	return st.Plain(text)
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

// eventsOpen opens the event ledger at db, its flags parsed.
func eventsOpen(ctx context.Context, db *config.Database) (*store.Store, error) {
	if err := db.Resolve(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.URL)
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

// outcomeNames lists the outcomes as operators write them (dead-lettered).
func outcomeNames() string {
	names := make([]string, len(bridge.Outcomes))
	for i, o := range bridge.Outcomes {
		names[i] = strings.ReplaceAll(o, "_", "-")
	}
	return strings.Join(names, ", ")
}
