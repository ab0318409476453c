// Package activities holds the side effects of flowbridge's workflows: PostgreSQL writes,
// email, Stripe calls and the result events they emit. Temporal may run an activity more
// than once, so each one is idempotent: writes are upserts, emails are keyed, Stripe calls
// carry idempotency keys, and result events have deterministic ids that the stream
// de-duplicates.
package activities

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v85"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/store"
)

// Publisher stores events on the stream. Publish must be safe for concurrent use and
// return only once the event is durable.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (events.PublishResult, error)
}

// Mailer hands one email to an SMTP server.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Activities carries the dependencies of every activity. Workflows call its methods
// through a nil *Activities; the worker registers a filled one.
type Activities struct {
	Store     *store.Store
	Mailer    Mailer
	Stripe    *stripe.Client
	Publisher Publisher
	Log       zerolog.Logger
	// AppURL is the base of links in emails (the verification link).
	AppURL string
}

// Validate reports a missing dependency, so the worker fails at start-up.
func (a *Activities) Validate() error {
	switch {
	case a.Store == nil:
		return fmt.Errorf("activities: Store is nil")
	case a.Mailer == nil:
		return fmt.Errorf("activities: Mailer is nil")
	case a.Stripe == nil:
		return fmt.Errorf("activities: Stripe is nil")
	case a.Publisher == nil:
		return fmt.Errorf("activities: Publisher is nil")
	}
	return nil
}

// Cause links what an activity emits to the event that started its workflow.
type Cause struct {
	EventID       string `json:"event_id"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// EmitInput is a result event for the Emit activity.
type EmitInput struct {
	Type  string `json:"type"`
	Data  any    `json:"data"`
	Cause Cause  `json:"cause"`
}

// Emit publishes a result event on behalf of the calling workflow.
func (a *Activities) Emit(ctx context.Context, in EmitInput) error {
	return a.emit(ctx, in.Cause, in.Type, in.Data)
}
