package activities

import (
	"context"
	"errors"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// emit publishes a result event through a's publisher: see emitResult.
func (a *Activities) emit(ctx context.Context, cause Cause, eventType string, data any) error {
	return emitResult(ctx, a.Publisher, cause, eventType, data)
}

// emitResult publishes a result event with the calling workflow's id as its subject, the
// causation and correlation ids of cause, and the deterministic id contract.ResultEventID.
func emitResult(ctx context.Context, pub Publisher, cause Cause, eventType string, data any) error {
	id := contract.ResultEventID(activity.GetInfo(ctx).WorkflowExecution.ID, eventType)
	return emitResultWithID(ctx, pub, id, cause, eventType, data)
}

// emitResultWithID is emitResult with an id of the caller's: one that must still be the
// same on every attempt of the activity.
func emitResultWithID(ctx context.Context, pub Publisher, id string, cause Cause, eventType string, data any) error {
	wfID := activity.GetInfo(ctx).WorkflowExecution.ID
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(id)
	ev.SetType(eventType)
	ev.SetSource(contract.SourceWorker)
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
		return temporal.NewNonRetryableApplicationError("encode "+eventType+" data", contract.ErrorTypeInvalidEvent, err)
	}
	res, err := pub.Publish(ctx, ev)
	if errors.Is(err, events.ErrMalformed) {
		// No retry can make the stream take it: fail the activity for good, saying why.
		return temporal.NewNonRetryableApplicationError("emit "+eventType+": "+err.Error(), contract.ErrorTypeInvalidEvent, err)
	}
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("Emitted event", "ce_id", ev.ID(), "ce_type", eventType, "duplicate", res.Duplicate)
	return nil
}
