package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/routing"
	"github.com/flowbridge/flowbridge/schemas"
)

const routesUsage = `usage: bridge routes <command>

Routes map events onto Temporal starts, signals and cancels. The bridge uses the file named
by ROUTES_FILE, or the contract's table built in; a bad file stops it at start-up with the
errors that check prints. docs/routes.md describes the format.

commands:
  check [FILE]          compile every filter and template, and check that each event type
                        a route takes has a schema; FILE defaults to ROUTES_FILE, then the
                        built-in table
  test FILE EVENT.json  print what the bridge would do with the event (a structured
                        CloudEvent in JSON); FILE "-" is the built-in table
  default               print the built-in table, a starting point for your own file
`

func routesCommand() command {
	return command{summary: "check a routes file; show what it does with an event", run: runRoutes}
}

func runRoutes(ctx context.Context, io IO, args []string) error {
	if len(args) == 0 || slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		fmt.Fprint(io.Stdout, routesUsage)
		return nil
	}
	switch args[0] {
	case "check":
		if len(args) > 2 {
			return fmt.Errorf("%w: routes check takes at most one FILE", ErrUsage)
		}
		file := io.Getenv("ROUTES_FILE")
		if len(args) == 2 {
			file = args[1]
		}
		return routesCheck(ctx, io, file)
	case "test":
		if len(args) != 3 {
			return fmt.Errorf("%w: routes test takes FILE and EVENT.json", ErrUsage)
		}
		return routesTest(io, args[1], args[2])
	case "default":
		_, err := io.Stdout.Write(routing.DefaultYAML())
		return err
	}
	fmt.Fprint(io.Stderr, routesUsage)
	return fmt.Errorf("%w: unknown command %q: want check, test or default", ErrUsage, "routes "+args[0])
}

// loadRoutes compiles file ("" or "-": the built-in table) and checks it against the
// schemas, as the bridge does at start-up.
func loadRoutes(file string) (*routing.Table, *events.Schemas, string, error) {
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		return nil, nil, "", err
	}
	if file == "-" {
		file = ""
	}
	name := file
	if name == "" {
		name = routing.DefaultFile
	}
	tbl, err := routing.Load(file)
	if err != nil {
		return nil, nil, name, err
	}
	if err := tbl.CheckSchemas(sch.Types()); err != nil {
		return nil, nil, name, err
	}
	return tbl, sch, name, nil
}

func routesCheck(ctx context.Context, io IO, file string) error {
	tbl, _, name, err := loadRoutes(file)
	if err != nil {
		fmt.Fprintf(io.Stderr, "%s is not valid:\n", name)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(io.Stderr, "  %s\n", line)
		}
		return fmt.Errorf("%s: invalid routes", name)
	}
	if problems := routesCheckTemporal(ctx, io, tbl); len(problems) > 0 {
		fmt.Fprintf(io.Stderr, "%s does not fit Temporal:\n", name)
		for _, p := range problems {
			fmt.Fprintf(io.Stderr, "  %s\n", p)
		}
		return fmt.Errorf("%s: search attributes missing in Temporal", name)
	}
	fmt.Fprintf(io.Stdout, "%s: ok (event types %s)\n", name, strings.Join(tbl.Patterns(), ", "))
	return nil
}

// routesCheckTemporal checks the search attributes of tbl against the Temporal the
// bridge's settings name, when it answers: it prints warnings, or why it checked nothing,
// and returns the problems.
func routesCheckTemporal(ctx context.Context, io IO, tbl *routing.Table) []string {
	env := io.Getenv
	if env == nil {
		env = func(string) string { return "" }
	}
	cfg, err := config.LoadSetup(nil, env)
	if err != nil {
		fmt.Fprintf(io.Stdout, "Search attributes not checked: %v\n", err)
		return nil
	}
	warnings, problems, err := app.CheckRouteSearchAttributes(ctx, cfg.Temporal, tbl, zerolog.Nop())
	if err != nil {
		fmt.Fprintf(io.Stdout, "Search attributes not checked: %v\n", err)
		return nil
	}
	for _, w := range warnings {
		fmt.Fprintf(io.Stdout, "warning: %s\n", w)
	}
	return problems
}

func routesTest(io IO, file, eventFile string) error {
	tbl, sch, _, err := loadRoutes(file)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(eventFile)
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	ev, err := events.Decode(map[string][]string{"Content-Type": {"application/cloudevents+json"}}, body)
	if err != nil {
		fmt.Fprintf(io.Stdout, "dead letter: %v\n", err)
		return nil
	}
	if err := sch.Validate(ev); err != nil {
		fmt.Fprintf(io.Stdout, "dead letter: %v\n", err)
		return nil
	}
	decisions, misses, err := tbl.Decide(ev)
	for _, m := range misses {
		fmt.Fprintf(io.Stdout, "route %s does not take it: %s\n", m.Route, m.Reason)
	}
	if err != nil {
		fmt.Fprintf(io.Stdout, "dead letter: %v\n", err)
		return nil
	}
	if len(decisions) == 0 {
		fmt.Fprintf(io.Stdout, "ignored: no route takes %s (acked and counted)\n", ev.Type())
		return nil
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
