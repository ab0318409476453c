package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/mail"
)

// sendEmailOnce sends msg unless an email under key was sent before, and records it as
// sent under key: every email the activities send is sent through it, at most once per
// key (a retried activity, or a second event for the same payment, finds it sent). key
// is also the email's Message-ID (key@flowbridge). what says which email, for errors.
func (a *Activities) sendEmailOnce(ctx context.Context, key, what string, msg mail.Message) error {
	sent, err := a.Store.EmailSent(ctx, key)
	if err != nil || sent {
		return err
	}
	msg.MessageID = key + "@flowbridge"
	if err := a.sendEmail(ctx, what, msg); err != nil {
		return err
	}
	return a.Store.MarkEmailSent(ctx, key, msg.To, msg.Subject)
}

// sendEmail hands msg to the SMTP server. A refusal that sending again cannot change is
// a non-retryable error; anything else (the server unreachable, a TLS failure, a 4xx
// reply) is returned for Temporal to retry. what says which email, for the error.
func (a *Activities) sendEmail(ctx context.Context, what string, msg mail.Message) error {
	err := a.Mailer.Send(ctx, msg)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", what, err)
	switch {
	case errors.Is(err, mail.ErrAuthFailed):
		return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrorTypeSMTPAuthFailed, err)
	case errors.Is(err, mail.ErrRejected):
		return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrorTypeEmailRejected, err)
	}
	return err
}
