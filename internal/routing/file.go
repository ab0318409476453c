package routing

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultRoutes []byte

// DefaultFile is the name errors give the embedded default routes.
const DefaultFile = "default routes"

// fileSpec is a routes file as written.
type fileSpec struct {
	// Unmatched is what happens to an event no route takes: "ignore" (acked and counted;
	// the default) or "dead_letter".
	Unmatched string `yaml:"unmatched"`
	// MaxRetryAge and MaxAttempts are the defaults of the routes' own (0: the bridge's,
	// BRIDGE_MAX_RETRY_AGE and BRIDGE_MAX_ATTEMPTS).
	MaxRetryAge duration    `yaml:"max_retry_age"`
	MaxAttempts int         `yaml:"max_attempts"`
	Routes      []routeSpec `yaml:"routes"`
}

// routeSpec is one route as written; docs/routes.md describes every field.
type routeSpec struct {
	Name   string   `yaml:"name"`
	Events []string `yaml:"events"`
	Filter string   `yaml:"filter"` // CEL, over event and data; must be bool

	Action   Action `yaml:"action"`
	Workflow string `yaml:"workflow"` // start, signal_with_start
	Signal   string `yaml:"signal"`   // template; signal, signal_with_start
	ID       string `yaml:"id"`       // template: the workflow id

	Input    string            `yaml:"input"`     // event (default) | data | map
	InputMap map[string]string `yaml:"input_map"` // key → CEL expression, for input: map

	// Args are a start's positional arguments, each one payload (instead of input);
	// SignalArgs the signal's (default: the event). See argSpec.
	Args       []argSpec `yaml:"args"`        // start, signal_with_start
	SignalArgs []argSpec `yaml:"signal_args"` // signal, signal_with_start

	TaskQueue        string            `yaml:"task_queue"`        // template
	Memo             map[string]string `yaml:"memo"`              // key → template
	SearchAttributes map[string]string `yaml:"search_attributes"` // key → template (Keyword/Text attributes)
	RunTimeout       duration          `yaml:"run_timeout"`
	ExecutionTimeout duration          `yaml:"execution_timeout"`
	IDReusePolicy    string            `yaml:"id_reuse_policy"`    // reject_duplicate (default) | allow_duplicate | allow_duplicate_failed_only
	IDConflictPolicy string            `yaml:"id_conflict_policy"` // fail (default) | use_existing | terminate_existing

	RateLimit   *rateLimitSpec   `yaml:"rate_limit"`
	Concurrency *concurrencySpec `yaml:"concurrency"`

	// MaxRetryAge and MaxAttempts bound how long (since the event was stored) and how many
	// deliveries a transient failure is retried before the event is dead-lettered as
	// "retries exhausted". 0: the file's default, else the bridge's.
	MaxRetryAge duration `yaml:"max_retry_age"`
	MaxAttempts int      `yaml:"max_attempts"`

	// Debounce and Batch hold the route's events back (window.go); at most one.
	Debounce *debounceSpec `yaml:"debounce"`
	Batch    *batchSpec    `yaml:"batch"`

	line int
}

type rateLimitSpec struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"` // Optional: defaults to per_second rounded up.
}

type concurrencySpec struct {
	Key   string `yaml:"key"` // template; the route name is prefixed
	Limit int    `yaml:"limit"`
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

// Parse compiles a routes file. name labels errors ("routes.yaml:12: route x: ..."); every
// error in the file is reported, not just the first.
func Parse(data []byte, name string) (*Table, error) {
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A second pass over the nodes finds each route's line for error messages.
	var nodes struct {
		Routes []yaml.Node `yaml:"routes"`
	}
	if err := yaml.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := range spec.Routes {
		if i < len(nodes.Routes) {
			spec.Routes[i].line = nodes.Routes[i].Line
		}
	}
	return compileFile(spec, name)
}

// LoadFile reads and compiles the routes file at path.
func LoadFile(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read routes file: %w", err)
	}
	return Parse(data, path)
}

// Load compiles the routes file at path, or the embedded default table when path is "".
// The bridge and `bridge routes` both load routes through it.
func Load(path string) (*Table, error) {
	if path == "" {
		return Default()
	}
	return LoadFile(path)
}

// Default is the contract's routing table, embedded from default.yaml.
func Default() (*Table, error) { return Parse(defaultRoutes, DefaultFile) }

// DefaultYAML returns the embedded default routes file, a starting point for ROUTES_FILE.
func DefaultYAML() []byte { return bytes.Clone(defaultRoutes) }

func compileFile(spec fileSpec, name string) (*Table, error) {
	t := &Table{}
	var errs []error
	switch spec.Unmatched {
	case "", "ignore":
	case "dead_letter":
		t.deadLetterUnmatched = true
	default:
		errs = append(errs, fmt.Errorf("%s: unmatched %q is not ignore or dead_letter", name, spec.Unmatched))
	}
	if len(spec.Routes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no routes", name))
	}
	if spec.MaxRetryAge < 0 {
		errs = append(errs, fmt.Errorf("%s: max_retry_age must not be negative (0 or unset: BRIDGE_MAX_RETRY_AGE)", name))
	}
	if spec.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("%s: max_attempts must not be negative (0 or unset: BRIDGE_MAX_ATTEMPTS)", name))
	}
	seen := map[string]int{}
	for _, rs := range spec.Routes {
		if prev, dup := seen[rs.Name]; dup && rs.Name != "" {
			errs = append(errs, fmt.Errorf("%s:%d: route %s: name already used by the route on line %d", name, rs.line, rs.Name, prev))
		}
		seen[rs.Name] = rs.line
		r, err := compileRoute(rs, fmt.Sprintf("%s:%d", name, rs.line))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.refs = dataRefs(rs)
		if r.maxRetryAge == 0 {
			r.maxRetryAge = time.Duration(spec.MaxRetryAge)
		}
		if r.maxAttempts == 0 {
			r.maxAttempts = spec.MaxAttempts
		}
		t.routes = append(t.routes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// RetryLimits returns how long and how many deliveries the named route retries a
// transient failure: its own max_retry_age and max_attempts, else the file's. 0 means
// neither says, and the bridge's own limit applies.
func (t *Table) RetryLimits(route string) (maxAge time.Duration, maxAttempts int) {
	for _, r := range t.routes {
		if r.name == route {
			return r.maxRetryAge, r.maxAttempts
		}
	}
	return 0, 0
}
