package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/flowbridge/flowbridge/internal/app"
	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/schedules"
)

const schedulesLong = `Temporal Schedules as configuration. The file SCHEDULES_FILE names, or the built-in one
(schedules default prints it), declares them; the worker creates or updates them at every
start, and apply does the same when you run it. docs/schedules.md describes the file.

An operator's pause (Temporal UI, temporal schedule toggle) survives every apply. Only
apply --prune deletes, and only the schedules flowbridge created for this task queue that
the file no longer declares (their memo says managed_by=flowbridge): your own schedules
are never touched.

SCHEDULE_DAILY_REPORT, SCHEDULE_CLEANUP and SCHEDULE_BACKUP, when set, override the crons
of the entries daily-report, cleanup and backup, as for the worker. apply and ls connect
with the Temporal settings of the bridge and the worker (environment or --temporal-*
flags); --task-queue (TEMPORAL_TASK_QUEUE) is the schedules' default task queue and the
deployment whose schedules --prune and ls look for.`

// schedulesCmd holds what the schedules commands share: the Temporal settings and the
// task queue.
type schedulesCmd struct {
	io        IO
	fs        *pflag.FlagSet
	temporal  config.Temporal
	taskQueue string
}

func schedulesCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "schedules",
		Short: "apply and list the Temporal Schedules of a schedules file",
		Long:  schedulesLong,
	}
	sc := &schedulesCmd{io: io, fs: c.PersistentFlags()}
	sc.temporal.Register(sc.fs, io.Env)
	sc.fs.StringVar(&sc.taskQueue, "task-queue", ifEmpty(io.Env("TEMPORAL_TASK_QUEUE"), config.DefaultTaskQueue), "the schedules' default task queue, and the deployment whose schedules --prune deletes (TEMPORAL_TASK_QUEUE)")

	apply := &cobra.Command{
		Use:   "apply [FILE] [--dry-run] [--prune]",
		Short: "create or update the schedules FILE declares; with --prune, delete flowbridge's others",
		Long: `Creates the schedules FILE declares that Temporal lacks and updates the others, keeping an
operator's pause; with --prune it also deletes the schedules flowbridge created for this
task queue that FILE no longer declares. FILE defaults to SCHEDULES_FILE, then the
built-in file. --dry-run prints what it would do and changes nothing.`,
		Args: cli.Args(0, 1, "at most one FILE"),
	}
	dry := apply.Flags().Bool("dry-run", false, "print what would change; change nothing")
	prune := apply.Flags().Bool("prune", false, "also delete the schedules flowbridge created for this task queue that FILE does not declare")
	applyJSON := cli.JSONFlag(apply)
	apply.RunE = func(c *cobra.Command, args []string) error {
		return sc.apply(c.Context(), sc.file(args), schedules.ApplyOptions{DryRun: *dry, Prune: *prune}, *applyJSON)
	}

	ls := &cobra.Command{
		Use:   "ls [FILE]",
		Short: "the schedules FILE declares, and flowbridge's others, with their state in Temporal",
		Long: `Lists the schedules FILE declares (FILE defaults to SCHEDULES_FILE, then the built-in file),
each with its state in Temporal, then those flowbridge created for this task queue that
FILE does not declare: the ones apply --prune deletes.`,
		Args: cli.Args(0, 1, "at most one FILE"),
	}
	lsJSON := cli.JSONFlag(ls)
	ls.RunE = func(c *cobra.Command, args []string) error {
		return sc.list(c.Context(), sc.file(args), *lsJSON)
	}

	def := &cobra.Command{
		Use:   "default",
		Short: "print the built-in schedules file, a starting point for your own",
		Args:  cli.NoArgs(""),
	}
	defJSON := cli.JSONFlag(def)
	def.RunE = func(*cobra.Command, []string) error {
		if !*defJSON {
			_, err := io.Stdout.Write(schedules.DefaultYAML())
			return err
		}
		var file any
		if err := yaml.Unmarshal(schedules.DefaultYAML(), &file); err != nil {
			return fmt.Errorf("read the built-in schedules: %w", err)
		}
		return cli.WriteJSON(io.Stdout, file)
	}
	c.AddCommand(apply, ls, def)
	return c
}

func ifEmpty(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// file is the schedules file of a command: its argument, else SCHEDULES_FILE; "" (or
// "-") is the built-in file.
func (sc *schedulesCmd) file(args []string) string {
	f := sc.io.Env("SCHEDULES_FILE")
	if len(args) == 1 {
		f = args[0]
	}
	if f == "-" {
		f = ""
	}
	return f
}

// load reads file with the SCHEDULE_* crons of the environment, as the worker does.
func (sc *schedulesCmd) load(file string) ([]schedules.Spec, string, error) {
	name := ifEmpty(file, schedules.DefaultFile)
	specs, err := schedules.Load(file, schedules.Crons{
		DailyReport: sc.io.Env("SCHEDULE_DAILY_REPORT"), Cleanup: sc.io.Env("SCHEDULE_CLEANUP"), Backup: sc.io.Env("SCHEDULE_BACKUP"),
	})
	return specs, name, err
}

// scheduleApplyJSON is `schedules apply --json`.
type scheduleApplyJSON struct {
	File    string             `json:"file"`
	DryRun  bool               `json:"dry_run"`
	Prune   bool               `json:"prune"`
	Changes []schedules.Change `json:"changes"`
	Error   string             `json:"error,omitempty"`
}

func (sc *schedulesCmd) apply(ctx context.Context, file string, opts schedules.ApplyOptions, asJSON bool) error {
	specs, name, err := sc.load(file)
	if err != nil {
		return sc.applyFailed(name, opts, nil, err, asJSON)
	}
	if err := sc.temporal.Load(sc.fs, sc.io.Env); err != nil {
		return err
	}
	tc, err := app.DialTemporal(ctx, sc.temporal, zerolog.Nop())
	if err != nil {
		return err
	}
	defer tc.Close()
	changes, err := schedules.Apply(ctx, tc, sc.taskQueue, specs, opts)
	if err != nil {
		return sc.applyFailed(name, opts, changes, err, asJSON)
	}
	if asJSON {
		return cli.WriteJSON(sc.io.Stdout, scheduleApplyJSON{File: name, DryRun: opts.DryRun, Prune: opts.Prune, Changes: nonNil(changes)})
	}
	sc.printChanges(name, opts, changes, specs)
	return nil
}

// applyFailed reports err, after the changes made before it.
func (sc *schedulesCmd) applyFailed(name string, opts schedules.ApplyOptions, changes []schedules.Change, err error, asJSON bool) error {
	if asJSON {
		res := scheduleApplyJSON{File: name, DryRun: opts.DryRun, Prune: opts.Prune, Changes: nonNil(changes), Error: err.Error()}
		if werr := cli.WriteJSON(sc.io.Stdout, res); werr != nil {
			return werr
		}
	} else if len(changes) > 0 {
		sc.printChanges(name, opts, changes, nil)
	}
	if errors.Is(err, schedules.ErrInvalidSpec) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (sc *schedulesCmd) printChanges(name string, opts schedules.ApplyOptions, changes []schedules.Change, specs []schedules.Spec) {
	st := sc.io.Style()
	out := sc.io.Stdout
	if opts.DryRun {
		fmt.Fprintf(out, "%s: dry run, nothing changed; apply would:\n", name)
	}
	when := map[string]string{}
	for _, s := range specs {
		when[s.ID] = fmt.Sprintf(" (%s, %s)", s.When(), s.Workflow)
	}
	for _, ch := range changes {
		op := ch.Op
		switch op {
		case schedules.OpCreate:
			op = st.Good(op)
		case schedules.OpDelete:
			op = st.Bad(op)
		}
		line := fmt.Sprintf("%s %s%s", op, ch.ID, when[ch.ID])
		switch {
		case ch.Pause != "":
			line += ", " + ch.Pause
		case ch.KeptPause != "":
			line += fmt.Sprintf(", %s (%s)", st.Warn("kept paused"), ch.KeptPause)
		}
		fmt.Fprintln(out, line)
	}
	if !opts.DryRun {
		fmt.Fprintf(out, "%s: %s\n", name, st.Good("applied"))
	}
}

// scheduleListJSON is `schedules ls --json`.
type scheduleListJSON struct {
	File      string             `json:"file"`
	TaskQueue string             `json:"task_queue"`
	Schedules []schedules.Status `json:"schedules"`
}

func (sc *schedulesCmd) list(ctx context.Context, file string, asJSON bool) error {
	specs, name, err := sc.load(file)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := sc.temporal.Load(sc.fs, sc.io.Env); err != nil {
		return err
	}
	tc, err := app.DialTemporal(ctx, sc.temporal, zerolog.Nop())
	if err != nil {
		return err
	}
	defer tc.Close()
	sts, err := schedules.List(ctx, tc, sc.taskQueue, specs)
	if err != nil {
		return err
	}
	if asJSON {
		return cli.WriteJSON(sc.io.Stdout, scheduleListJSON{File: name, TaskQueue: sc.taskQueue, Schedules: nonNil(sts)})
	}
	st := sc.io.Style()
	tw := tabwriter.NewWriter(sc.io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tWHEN\tWORKFLOW\tNEXT RUN\tLAST RUN")
	for _, s := range sts {
		var state string
		switch {
		case !s.Exists:
			state = st.Warn("missing: apply creates it")
		case s.Declared && !s.Managed:
			state = st.Bad("not flowbridge's: apply refuses it")
		case !s.Declared:
			state = st.Warn("not declared: apply --prune deletes it")
		case s.Paused:
			state = st.Warn("paused")
			if s.Note != "" {
				state = st.Warn("paused: " + strings.ReplaceAll(s.Note, "\t", " "))
			}
		default:
			state = st.Good("active")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, state, ifEmpty(s.When, "-"), ifEmpty(s.Workflow, "-"), timeOr(s.NextRun), timeOr(s.LastRun))
	}
	return tw.Flush()
}

func timeOr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
