package logging

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/log"
)

// Temporal adapts a zerolog logger to the Temporal SDK's log.Logger, so SDK and workflow
// logs (workflow.GetLogger) share the process's format and fields.
type Temporal struct {
	l zerolog.Logger
}

var (
	_ log.Logger          = Temporal{}
	_ log.WithLogger      = Temporal{}
	_ log.WithSkipCallers = Temporal{}
)

// NewTemporal wraps l.
func NewTemporal(l zerolog.Logger) Temporal { return Temporal{l: l} }

func (t Temporal) Debug(msg string, keyvals ...any) { t.emit(t.l.Debug(), msg, keyvals) }
func (t Temporal) Info(msg string, keyvals ...any)  { t.emit(t.l.Info(), msg, keyvals) }
func (t Temporal) Warn(msg string, keyvals ...any)  { t.emit(t.l.Warn(), msg, keyvals) }
func (t Temporal) Error(msg string, keyvals ...any) { t.emit(t.l.Error(), msg, keyvals) }

// With returns a logger that adds keyvals to every line.
func (t Temporal) With(keyvals ...any) log.Logger {
	ctx := t.l.With()
	for i := 0; i+1 < len(keyvals); i += 2 {
		ctx = ctx.Interface(fieldName(keyvals[i]), keyvals[i+1])
	}
	return Temporal{l: ctx.Logger()}
}

// WithCallerSkip is accepted for the interface; zerolog adds no caller here.
func (t Temporal) WithCallerSkip(int) log.Logger { return t }

func (t Temporal) emit(e *zerolog.Event, msg string, keyvals []any) {
	if e == nil {
		return
	}
	for i := 0; i < len(keyvals); i += 2 {
		if i+1 == len(keyvals) {
			e = e.Interface("extra", keyvals[i])
			break
		}
		if err, ok := keyvals[i+1].(error); ok {
			e = e.AnErr(fieldName(keyvals[i]), err)
			continue
		}
		e = e.Interface(fieldName(keyvals[i]), keyvals[i+1])
	}
	e.Msg(msg)
}

// fieldName maps the SDK's CamelCase keys onto the snake_case names used elsewhere.
func fieldName(k any) string {
	s := fmt.Sprint(k)
	switch s {
	case "WorkflowID":
		return FieldWorkflowID
	case "RunID":
		return FieldRunID
	case "Error":
		return "err"
	}
	return s
}
