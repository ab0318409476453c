package mail_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func TestSendDeliversToSMTPServer(t *testing.T) {
	smtpAddr, api := testenv.Mailpit(t)
	m, err := mail.New(smtpAddr, "Flow Bridge <no-reply@flowbridge.test>")
	require.NoError(t, err)
	to := testenv.ID("m-") + "@example.com"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, m.Send(ctx, mail.Message{To: to, Subject: "Grüße", Body: "line one\n.\nline three\n", MessageID: testenv.ID("id-") + "@flowbridge"}))

	var ids []string
	testenv.Eventually(t, 10*time.Second, func() bool {
		ids = testenv.MailTo(t, api, to)
		return len(ids) == 1
	}, "message to %s not in mailpit", to)
	subject, text := testenv.MailMessage(t, api, ids[0])
	require.Equal(t, "Grüße", subject, "a non-ASCII subject survives its encoding")
	require.Equal(t, "line one\n.\nline three\n", text, "a lone dot survives SMTP dot-stuffing")
}

func TestNewAndSendRejectBadAddresses(t *testing.T) {
	_, err := mail.New("no-port", "a@example.com")
	require.ErrorContains(t, err, "SMTP address")
	_, err = mail.New("127.0.0.1:25", "not an address")
	require.ErrorContains(t, err, "from address")

	m, err := mail.New("127.0.0.1:1", "a@example.com")
	require.NoError(t, err)
	err = m.Send(context.Background(), mail.Message{To: "bad address"})
	require.ErrorContains(t, err, "recipient")
	err = m.Send(context.Background(), mail.Message{To: "b@example.com"})
	require.ErrorContains(t, err, "connect to SMTP server 127.0.0.1:1")
}
