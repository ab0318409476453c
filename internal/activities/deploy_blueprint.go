package activities

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// BlueprintFile is the manifest BlueprintDeploy reads at the root of the pushed commit.
const BlueprintFile = "blueprint.yaml"

// Blueprint limits and defaults (docs/blueprint.md).
const (
	DefaultStepTimeout    = 10 * time.Minute
	DefaultHealthTimeout  = 2 * time.Minute
	DefaultHealthInterval = 2 * time.Second
	// MaxStepTimeout bounds every timeout a blueprint sets, for a step and for the
	// health check.
	MaxStepTimeout = time.Hour
)

// Blueprint is a repository's deploy manifest, blueprint.yaml at the root of the commit:
//
//	build: make build                  # optional; a plain string is the command
//	test:                              # optional
//	  run: make test
//	  timeout: 15m                     # optional: defaults to 10m, at most 1h
//	deploy: ./scripts/deploy.sh        # required
//	health:
//	  url: http://127.0.0.1:8080/healthz  # required: healthy on a 2xx answer
//	  timeout: 2m                      # optional: how long to wait for healthy; defaults to 2m
//	  interval: 2s                     # optional: between probes; defaults to 2s
//
// Each command runs with `sh -c` in the checkout of the commit; a step without a command
// is skipped. Unknown fields are errors, so a typo does not silently skip a step.
type Blueprint struct {
	Build  BlueprintStep   `yaml:"build" json:"build"`
	Test   BlueprintStep   `yaml:"test" json:"test"`
	Deploy BlueprintStep   `yaml:"deploy" json:"deploy"`
	Health BlueprintHealth `yaml:"health" json:"health"`
}

// BlueprintStep is one command of a blueprint.
type BlueprintStep struct {
	Run     string        `yaml:"run" json:"run,omitempty"`
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"` // ParseBlueprint fills the default
}

// BlueprintHealth says how to tell that a deploy is healthy.
type BlueprintHealth struct {
	URL      string        `yaml:"url" json:"url"`
	Timeout  time.Duration `yaml:"timeout" json:"timeout,omitempty"`
	Interval time.Duration `yaml:"interval" json:"interval,omitempty"`
}

// UnmarshalYAML takes a step as a string (the command) or as a mapping with run and
// timeout.
func (s *BlueprintStep) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&s.Run)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a step is a command or a mapping with run and timeout", n.Line)
	}
	// n.Decode does not inherit the decoder's KnownFields, so check the keys here.
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "run" && k.Value != "timeout" {
			return fmt.Errorf("line %d: unknown step field %q (want run, timeout)", k.Line, k.Value)
		}
	}
	type plain BlueprintStep
	return n.Decode((*plain)(s))
}

// ParseBlueprint reads a blueprint.yaml, checks it and fills its defaults.
func ParseBlueprint(data []byte) (Blueprint, error) {
	var b Blueprint
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil {
		if errors.Is(err, io.EOF) {
			return Blueprint{}, fmt.Errorf("%s is empty", BlueprintFile)
		}
		return Blueprint{}, fmt.Errorf("%s: %w", BlueprintFile, err)
	}
	var errs []error
	for _, s := range []struct {
		name string
		step *BlueprintStep
	}{{contract.StepBuild, &b.Build}, {contract.StepTest, &b.Test}, {contract.StepDeploy, &b.Deploy}} {
		if err := fillTimeout(&s.step.Timeout, DefaultStepTimeout); err != nil {
			errs = append(errs, fmt.Errorf("%s.timeout %w", s.name, err))
		}
	}
	if b.Deploy.Run == "" {
		errs = append(errs, errors.New("deploy: a command is required"))
	}
	if u, err := url.Parse(b.Health.URL); b.Health.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("health.url: want an absolute http(s) URL, got %q", b.Health.URL))
	}
	if err := fillTimeout(&b.Health.Timeout, DefaultHealthTimeout); err != nil {
		errs = append(errs, fmt.Errorf("health.timeout %w", err))
	}
	if err := fillTimeout(&b.Health.Interval, DefaultHealthInterval); err != nil {
		errs = append(errs, fmt.Errorf("health.interval %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return Blueprint{}, fmt.Errorf("%s: %w", BlueprintFile, err)
	}
	return b, nil
}

func fillTimeout(d *time.Duration, def time.Duration) error {
	switch {
	case *d == 0:
		*d = def
	case *d < 0 || *d > MaxStepTimeout:
		return fmt.Errorf("%s: must be positive and at most %s", *d, MaxStepTimeout)
	}
	return nil
}
