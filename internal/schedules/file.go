package schedules

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultFile []byte

// DefaultFile is the name errors give the embedded default schedules file.
const DefaultFile = "default schedules"

// DefaultYAML returns the embedded schedules file, a starting point for SCHEDULES_FILE.
func DefaultYAML() []byte { return bytes.Clone(defaultFile) }

// fileSpec is a schedules file as written; docs/schedules.md describes every field.
type fileSpec struct {
	Schedules []entrySpec `yaml:"schedules"`
}

// entrySpec is one schedule as written.
type entrySpec struct {
	ID            string   `yaml:"id"`
	Cron          string   `yaml:"cron"`   // a cron expression, or
	Every         duration `yaml:"every"`  // an interval,
	Offset        duration `yaml:"offset"` // shifted by this (every only)
	TimeZone      string   `yaml:"time_zone"`
	Jitter        duration `yaml:"jitter"`
	Workflow      string   `yaml:"workflow"`
	TaskQueue     string   `yaml:"task_queue"`
	WorkflowID    string   `yaml:"workflow_id"`
	Input         value    `yaml:"input"` // one argument
	Args          []value  `yaml:"args"`  // or positional arguments
	Overlap       string   `yaml:"overlap"`
	CatchupWindow duration `yaml:"catchup_window"`
	Paused        bool     `yaml:"paused"`

	line int
}

// value is an argument as written: any YAML value, sent as JSON.
type value struct {
	v   any
	set bool
}

func (a *value) UnmarshalYAML(n *yaml.Node) error {
	a.set = true
	return n.Decode(&a.v)
}

// duration reads "30s", "24h".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 24h", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// overlapPolicies are the overlap values a file may name.
var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer_one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer_all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel_other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate_other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow_all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

// OverlapName is the name a schedules file gives p ("skip"); "" for an unknown one.
func OverlapName(p enumspb.ScheduleOverlapPolicy) string {
	for name, v := range overlapPolicies {
		if v == p {
			return name
		}
	}
	return ""
}

// Parse reads a schedules file. name labels errors ("schedules.yaml:12: schedule x: ...");
// every error in the file is reported, not just the first. Errors wrap ErrInvalidSpec.
func Parse(data []byte, name string) ([]Spec, error) {
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, name, err)
	}
	var nodes struct {
		Schedules []yaml.Node `yaml:"schedules"`
	}
	if err := yaml.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, name, err)
	}
	var errs []error
	specs := make([]Spec, 0, len(spec.Schedules))
	seen := map[string]int{}
	for i, es := range spec.Schedules {
		if i < len(nodes.Schedules) {
			es.line = nodes.Schedules[i].Line
		}
		at := fmt.Sprintf("%s:%d: schedule %s", name, es.line, es.ID)
		if prev, dup := seen[es.ID]; dup && es.ID != "" {
			errs = append(errs, fmt.Errorf("%s: id already used by the schedule on line %d", at, prev))
		}
		seen[es.ID] = es.line
		s, err := compileEntry(es)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		specs = append(specs, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return specs, nil
}

func compileEntry(es entrySpec) (Spec, error) {
	s := Spec{
		ID: es.ID, Cron: es.Cron, Every: time.Duration(es.Every), Offset: time.Duration(es.Offset),
		TimeZone: es.TimeZone, Jitter: time.Duration(es.Jitter), Workflow: es.Workflow,
		TaskQueue: es.TaskQueue, WorkflowID: es.WorkflowID, CatchupWindow: time.Duration(es.CatchupWindow),
		Paused: es.Paused,
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if es.Overlap != "" {
		p, ok := overlapPolicies[es.Overlap]
		if !ok {
			fail("overlap %q is not skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all", es.Overlap)
		}
		s.Overlap = p
	}
	if es.TimeZone != "" {
		if _, err := time.LoadLocation(es.TimeZone); err != nil {
			fail("time_zone %q is not an IANA time zone such as Europe/Paris", es.TimeZone)
		}
	}
	switch {
	case es.Input.set && len(es.Args) > 0:
		fail("give input (one argument) or args (positional arguments), not both")
	case es.Input.set:
		if err := static(es.Input.v, "input"); err != nil {
			fail("%v", err)
		}
		s.Args = []any{es.Input.v}
	case len(es.Args) > 0:
		for i, a := range es.Args {
			if err := static(a.v, fmt.Sprintf("args[%d]", i)); err != nil {
				fail("%v", err)
			}
			s.Args = append(s.Args, a.v)
		}
	}
	if err := s.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Spec{}, errors.New(strings.Join(problems, "; "))
	}
	return s, nil
}

// static refuses an argument holding a string with "{{": a schedule has no event to
// fill a template from, and sending the template as text would hide the mistake.
func static(v any, field string) error {
	var bad error
	walk(v, func(s string) {
		if bad == nil && strings.Contains(s, "{{") {
			bad = fmt.Errorf("%s: %q looks like a template, but a schedule's arguments are static values (no event to fill them from)", field, s)
		}
	})
	return bad
}

func walk(v any, str func(string)) {
	switch v := v.(type) {
	case string:
		str(v)
	case map[string]any:
		for _, e := range v {
			walk(e, str)
		}
	case []any:
		for _, e := range v {
			walk(e, str)
		}
	}
}

// LoadFile reads and parses the schedules file at path.
func LoadFile(path string) ([]Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schedules file: %w", err)
	}
	return Parse(data, path)
}

// Load reads the schedules file at path, or the embedded default when path is "", and
// sets the crons c gives (non-empty fields) on the entries daily-report, cleanup and
// backup: SCHEDULE_DAILY_REPORT and its siblings win over the file. A cron for an entry
// the file lacks is an error (it would be silently ignored). The worker and `bridge
// schedules` both load schedules through it.
func Load(path string, c Crons) ([]Spec, error) {
	var specs []Spec
	var err error
	name := path
	if path == "" {
		name = DefaultFile
		specs, err = Parse(defaultFile, DefaultFile)
	} else {
		specs, err = LoadFile(path)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range []struct{ id, cron, env string }{
		{DailyReportID, c.DailyReport, "SCHEDULE_DAILY_REPORT"},
		{CleanupID, c.Cleanup, "SCHEDULE_CLEANUP"},
		{BackupID, c.Backup, "SCHEDULE_BACKUP"},
	} {
		if o.cron == "" {
			continue
		}
		i := index(specs, o.id)
		if i < 0 {
			return nil, fmt.Errorf("%w: %s is set but %s declares no schedule %s: unset it, or add the entry", ErrInvalidSpec, o.env, name, o.id)
		}
		specs[i].Cron, specs[i].Every, specs[i].Offset = o.cron, 0, 0
	}
	return specs, nil
}

func index(specs []Spec, id string) int {
	for i, s := range specs {
		if s.ID == id {
			return i
		}
	}
	return -1
}
