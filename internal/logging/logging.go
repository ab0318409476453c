// Package logging builds the one zerolog logger a process uses and adapts it to the
// Temporal SDK's logger interface.
package logging

import (
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
)

// Field names used on every line that concerns an event or a workflow.
const (
	FieldEventID    = "ce_id"
	FieldEventType  = "ce_type"
	FieldSubject    = "subject"
	FieldWorkflowID = "workflow_id"
	FieldRunID      = "run_id"
	FieldRoute      = "route"
)

// New returns a logger writing to w at level in format ("json" or "console").
func New(w io.Writer, level, format, service string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level %q: %w", level, err)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger(), nil
}
