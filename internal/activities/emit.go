package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/events"
)

// Source is the CloudEvents source of every event the worker emits.
const Source = "/flowbridge/worker"

// ResultEventID is the deterministic id of the result event of type eventType emitted by
// workflow workflowID. A retried activity emits the same id, which the stream drops.
func ResultEventID(workflowID, eventType string) string {
	return boundedEventID(workflowID + "/" + eventType)
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

// emit publishes a result event through a's publisher: see emitResult.
func (a *Activities) emit(ctx context.Context, cause Cause, eventType string, data any) error {
	return emitResult(ctx, a.Publisher, cause, eventType, data)
}

// emitResult publishes a result event with the calling workflow's id as its subject, the
// causation and correlation ids of cause, and the deterministic id ResultEventID.
func emitResult(ctx context.Context, pub Publisher, cause Cause, eventType string, data any) error {
	id := ResultEventID(activity.GetInfo(ctx).WorkflowExecution.ID, eventType)
	return emitResultWithID(ctx, pub, id, cause, eventType, data)
}

// emitResultWithID is emitResult with an id of the caller's: one that must still be the
// same on every attempt of the activity.
func emitResultWithID(ctx context.Context, pub Publisher, id string, cause Cause, eventType string, data any) error {
	wfID := activity.GetInfo(ctx).WorkflowExecution.ID
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(id)
	ev.SetType(eventType)
	ev.SetSource(Source)
	ev.SetSubject(wfID)
	ev.SetTime(time.Now().UTC())
	if cause.EventID != "" {
		ev.SetExtension(events.ExtCausationID, cause.EventID)
		corr := cause.CorrelationID
		if corr == "" {
			corr = cause.EventID
		}
		ev.SetExtension(events.ExtCorrelationID, corr)
	}
	if err := ev.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return temporal.NewNonRetryableApplicationError("encode "+eventType+" data", "InvalidEvent", err)
	}
	res, err := pub.Publish(ctx, ev)
	if errors.Is(err, events.ErrMalformed) {
		// No retry can make the stream take it: fail the activity for good, saying why.
		return temporal.NewNonRetryableApplicationError("emit "+eventType+": "+err.Error(), "InvalidEvent", err)
	}
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Emitted event", "ce_id", ev.ID(), "ce_type", eventType, "duplicate", res.Duplicate)
	return nil
}
