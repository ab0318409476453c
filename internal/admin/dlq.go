package admin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/dlq"
	"github.com/flowbridge/flowbridge/internal/events"
)

const dlqLong = `Dead letters are events the bridge could not route, kept on stream EVENTS_DLQ with the
reason (Flowbridge-Error). Fix the cause, then replay them; purge the ones nobody needs.

ls, replay and purge select with the filters --type (NATS wildcards as whole tokens:
stripe.>; "unknown" for events whose type could not be read), --reason, --since, --until
and --limit. A replayed event that fails again comes back as a new dead letter, with the
new reason: replay never loops. Dead letters of type unknown cannot be replayed.

Every command connects with the bridge's NATS settings, from its environment or the
--nats-* flags.`

// dlqReasonWidth is how much of a reason fits in a table row.
const dlqReasonWidth = 72

func dlqCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "list, show, replay and purge dead letters (EVENTS_DLQ)",
		Long:  dlqLong,
	}
	var natsCfg config.NATS
	natsCfg.AddFlags(c.PersistentFlags(), io.Env)

	ls := &cobra.Command{
		Use:   "ls [filters]",
		Short: "list dead letters, oldest first",
		Args:  cli.NoArgs("a type goes in --type"),
	}
	lsFilter := dlqFilterFlags(ls)
	lsJSON := cli.JSONFlag(ls)
	ls.RunE = func(c *cobra.Command, _ []string) error {
		return dlqList(c.Context(), io, &natsCfg, lsFilter, *lsJSON)
	}

	show := &cobra.Command{
		Use:   "show SEQ",
		Short: "one dead letter: every header, and the body",
	}
	showJSON := cli.JSONFlag(show)
	show.RunE = func(c *cobra.Command, args []string) error {
		seq, err := dlqSeq(args)
		if err != nil {
			return err
		}
		return dlqShow(c.Context(), io, &natsCfg, seq, *showJSON)
	}

	replay := &cobra.Command{
		Use:   "replay [filters] [--dry-run]",
		Short: "republish to events.<type> with the original event id, then remove from EVENTS_DLQ",
		Args:  cli.NoArgs("a type goes in --type"),
	}
	replayFilter := dlqFilterFlags(replay)
	replayDry := replay.Flags().Bool("dry-run", false, "show what would be replayed; change nothing")
	replayJSON := cli.JSONFlag(replay)
	replay.RunE = func(c *cobra.Command, _ []string) error {
		return dlqReplay(c.Context(), io, &natsCfg, replayFilter, *replayDry, *replayJSON)
	}

	purge := &cobra.Command{
		Use:   "purge [filters] (--yes | --dry-run)",
		Short: "delete dead letters for good",
		Args:  cli.NoArgs("a type goes in --type"),
	}
	purgeFilter := dlqFilterFlags(purge)
	purgeDry := purge.Flags().Bool("dry-run", false, "show what would be deleted; delete nothing")
	purgeYes := purge.Flags().Bool("yes", false, "really delete")
	purgeJSON := cli.JSONFlag(purge)
	purge.RunE = func(c *cobra.Command, _ []string) error {
		return dlqPurge(c.Context(), io, &natsCfg, purgeFilter, *purgeDry, *purgeYes, *purgeJSON)
	}
	c.AddCommand(ls, show, replay, purge)
	return c
}

// dlqSeq reads the argument of `dlq show`: a sequence number.
func dlqSeq(args []string) (uint64, error) {
	var seq uint64
	var err error
	if len(args) == 1 {
		seq, err = strconv.ParseUint(args[0], 10, 64)
	}
	if len(args) != 1 || err != nil || seq == 0 {
		got := "nothing"
		if len(args) > 0 {
			got = strconv.Quote(strings.Join(args, " "))
		}
		return 0, fmt.Errorf("%w: dlq show takes one sequence number (the SEQ column of `bridge dlq ls`), got %s", ErrUsage, got)
	}
	return seq, nil
}

// deadLetterJSON is a dead letter for --json. Data is the body itself when it is JSON,
// else DataBase64 holds it.
type deadLetterJSON struct {
	Seq        uint64              `json:"seq"`
	Subject    string              `json:"subject"`
	Type       string              `json:"type,omitempty"`
	EventID    string              `json:"event_id,omitempty"`
	StoredAt   time.Time           `json:"stored_at"`
	Reason     string              `json:"reason,omitempty"`
	Header     map[string][]string `json:"headers,omitempty"`
	Data       json.RawMessage     `json:"data,omitempty"`
	DataBase64 []byte              `json:"data_base64,omitempty"`
}

// newDeadLetterJSON is dl for --json; with body, its headers and body too.
func newDeadLetterJSON(dl dlq.DeadLetter, body bool) deadLetterJSON {
	j := deadLetterJSON{Seq: dl.Seq, Subject: dl.Subject, Type: dl.Type, EventID: dl.EventID, StoredAt: dl.StoredAt, Reason: dl.Reason}
	if !body {
		return j
	}
	j.Header = dl.Header
	if json.Valid(dl.Data) {
		j.Data = dl.Data
	} else {
		j.DataBase64 = dl.Data
	}
	return j
}

// dlqListJSON is `dlq ls --json`. More says there are dead letters past --limit.
type dlqListJSON struct {
	DeadLetters []deadLetterJSON `json:"dead_letters"`
	More        bool             `json:"more"`
}

func dlqList(ctx context.Context, io IO, natsCfg *config.NATS, ff *dlqFilter, asJSON bool) error {
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	q, url, done, err := dlqOpen(io, natsCfg)
	if err != nil {
		return err
	}
	defer done()
	if f.Limit > 0 {
		f.Limit++ // one more, to tell whether there are more
	}
	dls, err := q.List(ctx, f)
	if err != nil {
		return dlqExplain(err, url)
	}
	more := f.Limit > 0 && len(dls) == f.Limit
	if more {
		dls = dls[:len(dls)-1]
	}
	if asJSON {
		res := dlqListJSON{DeadLetters: []deadLetterJSON{}, More: more}
		for _, dl := range dls {
			res.DeadLetters = append(res.DeadLetters, newDeadLetterJSON(dl, false))
		}
		return cli.WriteJSON(io.Stdout, res)
	}
	if len(dls) == 0 {
		fmt.Fprintln(io.Stdout, "No dead letters match.")
		return nil
	}
	dlqTable(io.Stdout, dls)
	switch {
	case more:
		fmt.Fprintf(io.Stdout, "\nThe first %d; there are more (raise --limit, or narrow with --type, --reason, --since).\n", len(dls))
	default:
		fmt.Fprintf(io.Stdout, "\n%s. `bridge dlq show SEQ` shows one in full.\n", dlqCount(len(dls)))
	}
	return nil
}

func dlqShow(ctx context.Context, io IO, natsCfg *config.NATS, seq uint64, asJSON bool) error {
	q, url, done, err := dlqOpen(io, natsCfg)
	if err != nil {
		return err
	}
	defer done()
	dl, err := q.Get(ctx, seq)
	if errors.Is(err, dlq.ErrNotFound) {
		return fmt.Errorf("%w; `bridge dlq ls` lists those there are", err)
	}
	if err != nil {
		return dlqExplain(err, url)
	}
	if asJSON {
		return cli.WriteJSON(io.Stdout, newDeadLetterJSON(dl, true))
	}
	w := io.Stdout
	fmt.Fprintf(w, "Dead letter %d on %s\n\n", dl.Seq, events.DLQStream)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "subject:\t%s\n", events.Printable(dl.Subject))
	fmt.Fprintf(tw, "type:\t%s\n", dlqOrDash(dl.Type))
	fmt.Fprintf(tw, "ce id:\t%s\n", dlqOrDash(dl.EventID))
	fmt.Fprintf(tw, "stored at:\t%s\n", dl.StoredAt.Format(time.RFC3339Nano))
	fmt.Fprintf(tw, "reason:\t%s\n", io.Style().Bad(dlqOrDash(dl.Reason)))
	_ = tw.Flush()

	fmt.Fprintln(w, "\nHeaders:")
	keys := make([]string, 0, len(dl.Header))
	for k := range dl.Header {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	for _, k := range keys {
		for _, v := range dl.Header[k] {
			fmt.Fprintf(w, "  %s: %s\n", events.Printable(k), events.Printable(v))
		}
	}
	fmt.Fprintf(w, "\nBody (%d bytes):\n", len(dl.Data))
	dlqBody(w, dl.Data)
	return nil
}

// dlqBody prints a body for people: indented if it is JSON, as text if it is text, as a
// hex dump otherwise.
func dlqBody(w io.Writer, data []byte) {
	var pretty bytes.Buffer
	switch {
	case len(data) == 0:
		fmt.Fprintln(w, "  (empty)")
	case json.Indent(&pretty, data, "  ", "  ") == nil:
		fmt.Fprintf(w, "  %s\n", pretty.Bytes())
	case utf8.Valid(data) && !bytes.ContainsFunc(data, dlqIsControl):
		fmt.Fprintf(w, "%s\n", data)
	default:
		fmt.Fprint(w, hex.Dump(data))
	}
}

func dlqIsControl(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' && r != '\r' }

// replayedJSON is a dead letter `dlq replay --json` replayed or skipped.
type replayedJSON struct {
	deadLetterJSON
	To        string `json:"to,omitempty"`
	MsgID     string `json:"msg_id,omitempty"`
	EventsSeq uint64 `json:"events_seq,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
}

// dlqReplayJSON is `dlq replay --json`; Error is why it stopped early.
type dlqReplayJSON struct {
	DryRun   bool           `json:"dry_run"`
	Replayed []replayedJSON `json:"replayed"`
	Skipped  []replayedJSON `json:"skipped"`
	Error    string         `json:"error,omitempty"`
}

// dlqPurgeJSON is `dlq purge --json`; Error is why it stopped early.
type dlqPurgeJSON struct {
	DryRun  bool             `json:"dry_run"`
	Deleted []deadLetterJSON `json:"deleted"`
	Error   string           `json:"error,omitempty"`
}

func dlqReplay(ctx context.Context, io IO, natsCfg *config.NATS, ff *dlqFilter, dryRun, asJSON bool) error {
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	q, url, done, err := dlqOpen(io, natsCfg)
	if err != nil {
		return err
	}
	defer done()
	bar := newDLQProgress(io.Stderr, "replay", io.Terminal(io.Stderr))
	res, err := q.Replay(ctx, f, dlq.ReplayOptions{DryRun: dryRun, Progress: bar.update})
	bar.finish()

	var replayed, skipped []dlq.Replayed
	dups := 0
	js := dlqReplayJSON{DryRun: dryRun, Replayed: []replayedJSON{}, Skipped: []replayedJSON{}}
	for _, r := range res {
		rj := replayedJSON{deadLetterJSON: newDeadLetterJSON(r.DeadLetter, false), To: r.To, MsgID: r.MsgID, EventsSeq: r.EventsSeq, Duplicate: r.Duplicate, Skipped: r.Skipped}
		if r.Skipped != "" {
			skipped = append(skipped, r)
			js.Skipped = append(js.Skipped, rj)
			continue
		}
		replayed = append(replayed, r)
		js.Replayed = append(js.Replayed, rj)
		if r.Duplicate {
			dups++
		}
	}
	if asJSON {
		if err != nil {
			err = dlqExplain(err, url)
			js.Error = err.Error()
		}
		if werr := cli.WriteJSON(io.Stdout, js); werr != nil {
			return werr
		}
		return err
	}
	w := io.Stdout
	if len(replayed) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTYPE\tCE ID\tTO\tNATS-MSG-ID\tEVENTS SEQ")
		for _, r := range replayed {
			eseq := "-"
			if r.EventsSeq != 0 {
				eseq = strconv.FormatUint(r.EventsSeq, 10)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, dlqOrDash(r.Type), dlqOrDash(r.EventID), r.To, dlqOrDash(r.MsgID), eseq)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	if len(skipped) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SKIPPED\tTYPE\tCE ID\tWHY")
		for _, r := range skipped {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Seq, dlqOrDash(r.Type), dlqOrDash(r.EventID), r.Skipped)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	switch {
	case err != nil:
		if len(res) > 0 {
			fmt.Fprintf(w, "Stopped: replayed %s before the error below.\n", dlqCount(len(replayed)))
		}
		return dlqExplain(err, url)
	case len(res) == 0:
		fmt.Fprintln(w, "No dead letters match: nothing to replay.")
	case dryRun:
		fmt.Fprintf(w, "Dry run: would replay %s and skip %d. Nothing was changed.\n", dlqCount(len(replayed)), len(skipped))
	default:
		fmt.Fprintf(w, "Replayed %s: back on %s, gone from %s", dlqCount(len(replayed)), events.Stream, events.DLQStream)
		if dups > 0 {
			fmt.Fprintf(w, " (%d already on %s from an earlier replay, not stored twice)", dups, events.Stream)
		}
		fmt.Fprintf(w, "; skipped %d.\n", len(skipped))
		if len(replayed) > 0 {
			fmt.Fprintln(w, "Events that fail again come back as new dead letters: `bridge dlq ls --since 10m`.")
		}
	}
	return nil
}

func dlqPurge(ctx context.Context, io IO, natsCfg *config.NATS, ff *dlqFilter, dryRun, yes, asJSON bool) error {
	if !yes && !dryRun {
		return fmt.Errorf("%w: dlq purge deletes dead letters for good: add --yes to delete them, or --dry-run to see which it would delete", ErrUsage)
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	q, url, done, err := dlqOpen(io, natsCfg)
	if err != nil {
		return err
	}
	defer done()
	bar := newDLQProgress(io.Stderr, "purge", io.Terminal(io.Stderr))
	dls, err := q.Purge(ctx, f, dlq.PurgeOptions{DryRun: dryRun, Progress: bar.update})
	bar.finish()
	if asJSON {
		js := dlqPurgeJSON{DryRun: dryRun, Deleted: []deadLetterJSON{}}
		for _, dl := range dls {
			js.Deleted = append(js.Deleted, newDeadLetterJSON(dl, false))
		}
		if err != nil {
			err = dlqExplain(err, url)
			js.Error = err.Error()
		}
		if werr := cli.WriteJSON(io.Stdout, js); werr != nil {
			return werr
		}
		return err
	}
	if len(dls) > 0 {
		dlqTable(io.Stdout, dls)
		fmt.Fprintln(io.Stdout)
	}
	switch {
	case err != nil:
		if len(dls) > 0 {
			fmt.Fprintf(io.Stdout, "Stopped: deleted %s before the error below.\n", dlqCount(len(dls)))
		}
		return dlqExplain(err, url)
	case len(dls) == 0:
		fmt.Fprintln(io.Stdout, "No dead letters match: nothing to purge.")
	case dryRun:
		fmt.Fprintf(io.Stdout, "Dry run: would delete %s. Nothing was changed.\n", dlqCount(len(dls)))
	default:
		fmt.Fprintf(io.Stdout, "Deleted %s from %s.\n", dlqCount(len(dls)), events.DLQStream)
	}
	return nil
}

// dlqFilter holds the filter flags ls, replay and purge share.
type dlqFilter struct {
	typ, reason, since, until string
	limit                     int
}

// dlqFilterFlags registers the filter flags on c.
func dlqFilterFlags(c *cobra.Command) *dlqFilter {
	ff := &dlqFilter{}
	fs := c.Flags()
	fs.StringVar(&ff.typ, "type", "", "event type `T` (email.verified); NATS wildcards as whole tokens (stripe.>); \"unknown\" for events whose type could not be read")
	fs.StringVar(&ff.reason, "reason", "", "the reason contains `S`, ignoring case")
	fs.StringVar(&ff.since, "since", "", "stored at or after `WHEN`: a duration ago (90m, 2h, 7d) or an RFC 3339 time (2026-05-01T12:00:00Z)")
	fs.StringVar(&ff.until, "until", "", "stored before `WHEN`, in the same forms")
	fs.IntVar(&ff.limit, "limit", 0, "at most `N` dead letters, oldest first (0: all)")
	return ff
}

func (ff *dlqFilter) filter(now time.Time) (dlq.Filter, error) {
	f := dlq.Filter{Type: ff.typ, Reason: ff.reason, Limit: ff.limit}
	var err error
	if f.Since, err = dlqParseWhen("--since", ff.since, now); err != nil {
		return dlq.Filter{}, err
	}
	if f.Until, err = dlqParseWhen("--until", ff.until, now); err != nil {
		return dlq.Filter{}, err
	}
	if err := f.Validate(); err != nil {
		return dlq.Filter{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return f, nil
}

// dlqParseWhen reads an RFC 3339 time, or a duration before now (Go's forms plus whole
// days: 7d).
func dlqParseWhen(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%w: %s %q: want a duration ago (90m, 2h, 7d) or an RFC 3339 time (2026-05-01T12:00:00Z)", ErrUsage, flagName, s)
	}
	return now.Add(-d), nil
}

// dlqOpen completes cfg, its flags parsed, and connects with it: the bridge's NATS
// settings. url is NATS_URL, redacted for messages; done closes the connection.
func dlqOpen(io IO, cfg *config.NATS) (q *dlq.Queue, url string, done func(), err error) {
	if err := cfg.Resolve(io.Env); err != nil {
		return nil, "", nil, err
	}
	url = config.RedactURLs(cfg.URL)
	nc, err := app.DialNATS(*cfg, "flowbridge bridge dlq", nats.Timeout(5*time.Second))
	if err != nil {
		return nil, url, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, url, nil, fmt.Errorf("JetStream at %s: %w", url, err)
	}
	return dlq.New(js), url, nc.Close, nil
}

// dlqExplain adds what to do to the errors an operator can act on.
func dlqExplain(err error, url string) error {
	switch {
	case errors.Is(err, dlq.ErrNoStream):
		return fmt.Errorf("%w at NATS_URL %s: has the bridge run? It creates %s and %s when it starts (BRIDGE_PROVISION), and so does bridge setup", err, url, events.Stream, events.DLQStream)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("%w at NATS_URL %s: the bridge needs a server with JetStream (nats-server -js)", err, url)
	}
	return err
}

// dlqTable prints dead letters as a table: seq, stored at, type, ce id, reason.
func dlqTable(w io.Writer, dls []dlq.DeadLetter) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTORED AT\tTYPE\tCE ID\tREASON")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", dl.Seq, dl.StoredAt.Format(time.RFC3339), dlqOrDash(dl.Type),
			dlqOrDash(dl.EventID), dlqTruncate(dlqOrDash(dl.Reason), dlqReasonWidth))
	}
	_ = tw.Flush()
}

func dlqTruncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ") // a tab or newline would break the table
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// dlqOrDash shows a value read from a dead letter in a terminal: "-" when empty, else
// with control characters and invalid bytes escaped and cut short, since a dead letter
// holds whatever a publisher sent.
func dlqOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return events.Printable(s)
}

func dlqCount(n int) string {
	if n == 1 {
		return "1 dead letter"
	}
	return strconv.Itoa(n) + " dead letters"
}

// dlqProgress draws a progress bar on a terminal; elsewhere (a log, a pipe) it writes
// nothing, as the summary on stdout says what was done.
type dlqProgress struct {
	w       io.Writer
	label   string
	enabled bool
	drawn   bool
	last    time.Time
}

func newDLQProgress(w io.Writer, label string, terminal bool) *dlqProgress {
	return &dlqProgress{w: w, label: label, enabled: terminal}
}

// update redraws the bar, at most ten times a second and always at the end.
func (p *dlqProgress) update(done, total int) {
	if !p.enabled || total == 0 {
		return
	}
	if now := time.Now(); done == total || now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		fmt.Fprint(p.w, "\r"+dlqBar(p.label, done, total, 30))
		p.drawn = true
	}
}

// finish ends the bar's line.
func (p *dlqProgress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// dlqBar is one frame: "replay [#######.......]  12/40".
func dlqBar(label string, done, total, width int) string {
	filled := width * done / total
	digits := len(strconv.Itoa(total))
	return fmt.Sprintf("%s [%s%s] %*d/%d", label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), digits, done, total)
}
