package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/schemas"
)

const routesLong = `Routes map events onto Temporal starts, signals and cancels. The bridge uses the file named
by ROUTES_FILE, or the contract's table built in; a bad file stops it at start-up with the
errors that check prints. docs/routes.md describes the format.`

func routesCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "routes",
		Short: "check a routes file; show what it does with an event",
		Long:  routesLong,
	}
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "compile every filter, template and argument, and check the routes against the schemas",
		Long: `Compiles every filter, template and argument of FILE and checks it against the event
schemas (the built-in ones and SCHEMAS_DIR's): a data field a route reads that the schema of
its event type does not declare is an error; an event type without a schema is a warning.
FILE defaults to ROUTES_FILE, then the built-in table.`,
		Args: cli.Args(0, 1, "at most one FILE"),
	}
	checkJSON := cli.JSONFlag(check)
	checkDir := schemasDirFlag(check, io)
	check.RunE = func(c *cobra.Command, args []string) error {
		file := io.Env("ROUTES_FILE")
		if len(args) == 1 {
			file = args[0]
		}
		return routesCheck(c.Context(), io, file, *checkDir, *checkJSON)
	}
	test := &cobra.Command{
		Use:   "test FILE EVENT.json",
		Short: "print what the bridge would do with an event",
		Long: `Prints what the bridge would do with the event in EVENT.json (a structured CloudEvent in
JSON), and why the routes that take its type but not it did not match. FILE "-" is the
built-in table.`,
		Args: cli.Args(2, 2, "FILE and EVENT.json"),
	}
	testJSON := cli.JSONFlag(test)
	testDir := schemasDirFlag(test, io)
	test.RunE = func(_ *cobra.Command, args []string) error {
		return routesTest(io, args[0], args[1], *testDir, *testJSON)
	}
	def := &cobra.Command{
		Use:   "default",
		Short: "print the built-in table, a starting point for your own file",
		Args:  cli.NoArgs(""),
	}
	defJSON := cli.JSONFlag(def)
	def.RunE = func(*cobra.Command, []string) error {
		if !*defJSON {
			_, err := io.Stdout.Write(routing.DefaultYAML())
			return err
		}
		var table any
		if err := yaml.Unmarshal(routing.DefaultYAML(), &table); err != nil {
			return fmt.Errorf("read the built-in table: %w", err)
		}
		return cli.WriteJSON(io.Stdout, table)
	}
	c.AddCommand(check, test, def)
	return c
}

// loadRoutes compiles file ("" or "-": the built-in table) and checks it against the
// schemas (the built-in ones and those of schemasDir), as the bridge does at start-up.
func loadRoutes(file, schemasDir string) (_ *routing.Table, _ *events.Schemas, name string, warnings []string, _ error) {
	sch, err := events.LoadSchemasDir(schemas.FS, schemasDir)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if file == "-" {
		file = ""
	}
	name = file
	if name == "" {
		name = routing.DefaultFile
	}
	tbl, err := routing.Load(file)
	if err != nil {
		return nil, nil, name, nil, err
	}
	if warnings, err = tbl.CheckSchemas(sch); err != nil {
		return nil, nil, name, warnings, err
	}
	return tbl, sch, name, warnings, nil
}

// schemasDirFlag is --schemas-dir, default SCHEMAS_DIR: the bridge's setting.
func schemasDirFlag(c *cobra.Command, io IO) *string {
	return c.Flags().String("schemas-dir", io.Env("SCHEMAS_DIR"), "directory of JSON Schemas (<type>.json) adding to or replacing the built-in ones (SCHEMAS_DIR)")
}

// routeCheckJSON is `routes check --json`.
type routeCheckJSON struct {
	File       string   `json:"file"`
	Valid      bool     `json:"valid"`
	EventTypes []string `json:"event_types,omitempty"`
	Errors     []string `json:"errors,omitempty"`
	Warnings   []string `json:"warnings,omitempty"` // event types without a schema
	// SearchAttributes is the check of the routes' search attributes against Temporal,
	// when the file compiled.
	SearchAttributes *searchAttrCheck `json:"search_attributes,omitempty"`
}

// searchAttrCheck is what Temporal said of the search attributes the routes set.
type searchAttrCheck struct {
	Checked    bool     `json:"checked"`
	NotChecked string   `json:"not_checked,omitempty"` // why not, when not checked
	Warnings   []string `json:"warnings,omitempty"`
	Problems   []string `json:"problems,omitempty"` // each makes the file not valid
}

func routesCheck(ctx context.Context, io IO, file, schemasDir string, asJSON bool) error {
	tbl, _, name, warnings, err := loadRoutes(file, schemasDir)
	st := io.Style()
	if !asJSON {
		for _, w := range warnings {
			fmt.Fprintf(io.Stdout, "%s %s\n", st.Warn("warning:"), w)
		}
	}
	if err != nil {
		if asJSON {
			res := routeCheckJSON{File: name, Errors: strings.Split(err.Error(), "\n"), Warnings: warnings}
			if werr := cli.WriteJSON(io.Stdout, res); werr != nil {
				return werr
			}
		} else {
			fmt.Fprintf(io.Stderr, "%s is %s:\n", name, st.Bad("not valid"))
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(io.Stderr, "  %s\n", line)
			}
		}
		return fmt.Errorf("%s: invalid routes", name)
	}
	sa := routesCheckTemporal(ctx, io, tbl)
	if asJSON {
		res := routeCheckJSON{File: name, Valid: len(sa.Problems) == 0, EventTypes: tbl.Patterns(), Errors: sa.Problems, Warnings: warnings, SearchAttributes: &sa}
		if err := cli.WriteJSON(io.Stdout, res); err != nil {
			return err
		}
	} else {
		if !sa.Checked {
			fmt.Fprintf(io.Stdout, "Search attributes not checked: %s\n", sa.NotChecked)
		}
		for _, w := range sa.Warnings {
			fmt.Fprintf(io.Stdout, "%s %s\n", st.Warn("warning:"), w)
		}
		if len(sa.Problems) > 0 {
			fmt.Fprintf(io.Stderr, "%s does not fit Temporal:\n", name)
			for _, p := range sa.Problems {
				fmt.Fprintf(io.Stderr, "  %s\n", p)
			}
		}
	}
	if len(sa.Problems) > 0 {
		return fmt.Errorf("%s: search attributes missing in Temporal", name)
	}
	if !asJSON {
		fmt.Fprintf(io.Stdout, "%s: %s (event types %s)\n", name, st.Good("ok"), strings.Join(tbl.Patterns(), ", "))
	}
	return nil
}

// routesCheckTemporal checks the search attributes of tbl against the Temporal the
// bridge's settings name, when it answers.
func routesCheckTemporal(ctx context.Context, io IO, tbl *routing.Table) searchAttrCheck {
	env := io.Getenv
	if env == nil {
		env = func(string) string { return "" }
	}
	cfg, err := config.LoadSetup(nil, env)
	if err != nil {
		return searchAttrCheck{NotChecked: err.Error()}
	}
	warnings, problems, err := app.CheckRouteSearchAttributes(ctx, cfg.Temporal, tbl, zerolog.Nop())
	if err != nil {
		return searchAttrCheck{NotChecked: err.Error()}
	}
	return searchAttrCheck{Checked: true, Warnings: warnings, Problems: problems}
}

// routeTestJSON is `routes test --json`: what the bridge would do with the event.
type routeTestJSON struct {
	// Outcome is routed, ignored (no route takes the type) or dead_lettered.
	Outcome   string         `json:"outcome"`
	Error     string         `json:"error,omitempty"`
	Unmatched []missJSON     `json:"unmatched,omitempty"`
	Routes    []decisionJSON `json:"routes,omitempty"`
}

// missJSON is a routing.Miss: a route that takes the event's type but not the event.
type missJSON struct {
	Route  string `json:"route"`
	Reason string `json:"reason"`
}

// decisionJSON is a routing.Decision for `routes test --json`.
type decisionJSON struct {
	Route            string         `json:"route"`
	Action           routing.Action `json:"action"`
	WorkflowType     string         `json:"workflow_type,omitempty"`
	WorkflowID       string         `json:"workflow_id,omitempty"`
	Signal           string         `json:"signal,omitempty"`
	TaskQueue        string         `json:"task_queue,omitempty"`
	IDReusePolicy    string         `json:"id_reuse_policy,omitempty"`
	IDConflictPolicy string         `json:"id_conflict_policy,omitempty"`
	RunTimeout       string         `json:"run_timeout,omitempty"`
	ExecutionTimeout string         `json:"execution_timeout,omitempty"`
	ConcurrencyKey   string         `json:"concurrency_key,omitempty"`
	ConcurrencyLimit int            `json:"concurrency_limit,omitempty"`
	Memo             map[string]any `json:"memo,omitempty"`
	SearchAttributes map[string]any `json:"search_attributes,omitempty"`
	Input            any            `json:"input,omitempty"`
	SignalArg        any            `json:"signal_arg,omitempty"`
	Args             []any          `json:"args,omitempty"`
	SignalArgs       []any          `json:"signal_args,omitempty"`
	// Window, for a route with debounce or batch: the event is held, and the arguments
	// above are its own (a batch's list holds one item per event).
	Window *windowJSON `json:"window,omitempty"`
}

// windowJSON is a routing.Window for `routes test --json`.
type windowJSON struct {
	Kind   routing.WindowKind `json:"kind"`
	Key    string             `json:"key"`
	Quiet  string             `json:"quiet,omitempty"`
	Size   int                `json:"size,omitempty"`
	Window string             `json:"window,omitempty"`
}

func newDecisionJSON(d routing.Decision) decisionJSON {
	j := decisionJSON{
		Route: d.Route, Action: d.Action, WorkflowType: d.WorkflowType, WorkflowID: d.WorkflowID,
		Signal: d.Signal, TaskQueue: d.TaskQueue, ConcurrencyKey: d.ConcurrencyKey, ConcurrencyLimit: d.ConcurrencyLimit,
		Memo: d.Memo, SearchAttributes: d.SearchAttributes, Input: d.Input, SignalArg: d.SignalArg, Args: d.Args, SignalArgs: d.SignalArgs,
	}
	if d.Action == routing.Start || d.Action == routing.SignalWithStart {
		j.IDReusePolicy, j.IDConflictPolicy = d.ReusePolicy.String(), d.ConflictPolicy.String()
	}
	if w := d.Window; w != nil {
		j.Window = &windowJSON{Kind: w.Kind, Key: w.Key, Size: w.Size}
		if w.Kind == routing.Debounce {
			j.Window.Quiet = w.Quiet.String()
		} else {
			j.Window.Window = w.Wait.String()
		}
	}
	if d.RunTimeout > 0 {
		j.RunTimeout = d.RunTimeout.String()
	}
	if d.ExecutionTimeout > 0 {
		j.ExecutionTimeout = d.ExecutionTimeout.String()
	}
	return j
}

func routesTest(io IO, file, eventFile, schemasDir string, asJSON bool) error {
	tbl, sch, _, _, err := loadRoutes(file, schemasDir)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(eventFile)
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	var res routeTestJSON
	var decisions []routing.Decision
	var misses []routing.Miss
	ev, err := events.Decode(map[string][]string{"Content-Type": {"application/cloudevents+json"}}, body)
	if err == nil {
		err = sch.Validate(ev)
	}
	if err == nil {
		decisions, misses, err = tbl.Decide(ev)
	}
	switch {
	case err != nil:
		res.Outcome, res.Error = bridge.OutcomeDeadLettered, err.Error()
	case len(decisions) == 0:
		res.Outcome = bridge.OutcomeIgnored
	default:
		res.Outcome = bridge.OutcomeRouted
	}
	for _, m := range misses {
		res.Unmatched = append(res.Unmatched, missJSON{Route: m.Route, Reason: m.Reason})
	}
	if asJSON {
		for _, d := range decisions {
			res.Routes = append(res.Routes, newDecisionJSON(d))
		}
		return cli.WriteJSON(io.Stdout, res)
	}
	st := io.Style()
	for _, m := range res.Unmatched {
		fmt.Fprintf(io.Stdout, "route %s does not take it: %s\n", m.Route, m.Reason)
	}
	switch res.Outcome {
	case bridge.OutcomeDeadLettered:
		fmt.Fprintf(io.Stdout, "%s: %s\n", st.Bad("dead letter"), res.Error)
	case bridge.OutcomeIgnored:
		fmt.Fprintf(io.Stdout, "%s: no route takes %s (acked and counted)\n", st.Warn("ignored"), ev.Type())
	}
	for _, d := range decisions {
		fmt.Fprintf(io.Stdout, "route %s: %s\n", d.Route, describeDecision(d))
	}
	return nil
}

func describeDecision(d routing.Decision) string {
	if d.Action == routing.Ignore {
		return "ignore"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s", d.Action)
	if d.WorkflowType != "" {
		fmt.Fprintf(&b, " %s", d.WorkflowType)
	}
	fmt.Fprintf(&b, " id=%s", d.WorkflowID)
	if d.Signal != "" {
		fmt.Fprintf(&b, " signal=%s", d.Signal)
	}
	if d.TaskQueue != "" {
		fmt.Fprintf(&b, " task_queue=%s", d.TaskQueue)
	}
	if d.Action == routing.Start || d.Action == routing.SignalWithStart {
		fmt.Fprintf(&b, " id_reuse=%s id_conflict=%s", d.ReusePolicy, d.ConflictPolicy)
	}
	if d.RunTimeout > 0 {
		fmt.Fprintf(&b, " run_timeout=%s", d.RunTimeout)
	}
	if d.ExecutionTimeout > 0 {
		fmt.Fprintf(&b, " execution_timeout=%s", d.ExecutionTimeout)
	}
	if d.ConcurrencyLimit > 0 {
		fmt.Fprintf(&b, " concurrency=%s<=%d", d.ConcurrencyKey, d.ConcurrencyLimit)
	}
	switch w := d.Window; {
	case w == nil:
	case w.Kind == routing.Debounce:
		fmt.Fprintf(&b, " debounce key=%q quiet=%s (held: the last event of the key's burst is delivered)", w.Key, w.Quiet)
	default:
		fmt.Fprintf(&b, " batch key=%q size=%d window=%s (held: delivered in a list, one item per event)", w.Key, w.Size, w.Wait)
	}
	for _, part := range []struct {
		name string
		v    any
		set  bool
	}{{"memo", d.Memo, len(d.Memo) > 0}, {"search_attributes", d.SearchAttributes, len(d.SearchAttributes) > 0}, {"input", d.Input, d.Input != nil},
		{"args", d.Args, d.Args != nil}, {"signal", d.SignalArg, d.SignalArg != nil}, {"signal_args", d.SignalArgs, d.SignalArgs != nil}} {
		if !part.set {
			continue
		}
		j, err := json.Marshal(part.v)
		if err != nil {
			j = []byte(err.Error())
		}
		fmt.Fprintf(&b, "\n    %s: %s", part.name, j)
	}
	return b.String()
}
