package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"github.com/flowbridge/flowbridge/internal/events"
)

// SourceWorker is the CloudEvents source of every result event the worker emits.
const SourceWorker = "/flowbridge/worker"

// ResultEventID is the deterministic id of the result event of type eventType emitted by
// workflow workflowID: <workflow id>/<type>. A retried activity emits the same id, which
// the stream drops.
func ResultEventID(workflowID, eventType string) string {
	return boundedEventID(workflowID + "/" + eventType)
}

// RunResultEventID is the deterministic id of the result event of type eventType emitted
// by run runID of workflow workflowID. Unlike ResultEventID it names the run: ConnectorSync
// reuses its workflow id for every sync of a connector, and the stream would drop a
// second sync's event as a duplicate of the first within its duplicate window.
func RunResultEventID(workflowID, runID, eventType string) string {
	return boundedEventID(workflowID + "/" + runID + "/" + eventType)
}

// ReportEventID is the id of the report.daily event of date: one id per date, whichever
// run emits it, so the stream keeps one report per date within its duplicate window.
// It has the form <id>/<type> of every result event, with daily-report-<date> as the id.
func ReportEventID(date string) string {
	return ResultEventID("daily-report-"+date, TypeReportDaily)
}

// boundedEventID returns id when it is a valid event id, else a deterministic one that
// is: a workflow id comes from event data (onboarding-<user_id>) and may be longer than
// an event id may be (events.MaxIDBytes) or hold characters an id may not. The
// replacement keeps a readable prefix (other characters as '_') and ends in a hash of the
// whole id, so distinct ids stay distinct.
func boundedEventID(id string) string {
	if events.CheckID(id) == nil {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	const hashLen = 32
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(id, "_") {
		if !unicode.IsPrint(r) || r == ' ' {
			r = '_'
		}
		if b.Len()+len(string(r)) > events.MaxIDBytes-1-hashLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String() + "~" + hex.EncodeToString(sum[:hashLen/2])
}
