package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/mail"
)

// Temporal error types of an email that sending again cannot deliver.
const (
	// ErrorTypeSMTPAuthFailed: the SMTP server refused SMTP_USERNAME and SMTP_PASSWORD.
	ErrorTypeSMTPAuthFailed = "SMTPAuthFailed"
	// ErrorTypeEmailRejected: the SMTP server refused the email for good (a 5xx reply:
	// an unknown recipient, a sender it does not accept).
	ErrorTypeEmailRejected = "EmailRejected"
)

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
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeSMTPAuthFailed, err)
	case errors.Is(err, mail.ErrRejected):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeEmailRejected, err)
	}
	return err
}
