package mail_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

const from = "Flow Bridge <no-reply@flowbridge.test>"

func send(t *testing.T, m *mail.Mailer, to string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.Send(ctx, mail.Message{To: to, Subject: "Grüße", Body: "line one\n.\nline three\n", MessageID: testenv.ID("id-") + "@flowbridge"})
}

// requireDelivered waits for the one message to `to` in mailpit and checks its text.
func requireDelivered(t *testing.T, api, to string) {
	t.Helper()
	var ids []string
	testenv.Eventually(t, 10*time.Second, func() bool {
		ids = testenv.MailTo(t, api, to)
		return len(ids) == 1
	}, "message to %s not in mailpit", to)
	subject, text := testenv.MailMessage(t, api, ids[0])
	require.Equal(t, "Grüße", subject, "a non-ASCII subject survives its encoding")
	require.Equal(t, "line one\n.\nline three\n", text, "a lone dot survives SMTP dot-stuffing")
}

func TestSendDeliversToSMTPServer(t *testing.T) {
	smtpAddr, api := testenv.Mailpit(t)
	m, err := mail.New(mail.Config{Addr: smtpAddr, From: from, TLS: mail.TLSNone})
	require.NoError(t, err)
	to := testenv.ID("m-") + "@example.com"
	require.NoError(t, send(t, m, to))
	requireDelivered(t, api, to)
}

// Through a mailpit that requires STARTTLS (or TLS) and AUTH, with a CA of the test's
// own: every mechanism delivers; a wrong password is refused for good, naming the
// settings to check; a server without the TLS asked for is a retryable failure.
func TestSendWithTLSAndAuth(t *testing.T) {
	users := map[string]string{"flowbridge": "s3cret-pw"}
	starttls := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: testenv.MailpitSTARTTLS, Users: users})
	implicit := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: testenv.MailpitTLS, Users: users})
	tests := []struct {
		name   string
		server *testenv.MailpitServer
		tls    mail.TLS
		auth   mail.Auth
	}{
		{name: "STARTTLS, AUTH auto", server: starttls, tls: mail.TLSStartTLS, auth: mail.AuthAuto},
		{name: "STARTTLS, AUTH PLAIN", server: starttls, tls: mail.TLSStartTLS, auth: mail.AuthPlain},
		{name: "STARTTLS, AUTH LOGIN", server: starttls, tls: mail.TLSStartTLS, auth: mail.AuthLogin},
		{name: "implicit TLS, AUTH auto", server: implicit, tls: mail.TLSImplicit, auth: mail.AuthAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mail.New(mail.Config{Addr: tt.server.SMTPAddr, From: from, TLS: tt.tls, CAFile: tt.server.CAFile,
				Username: "flowbridge", Password: "s3cret-pw", Auth: tt.auth})
			require.NoError(t, err)
			to := testenv.ID("tls-") + "@example.com"
			require.NoError(t, send(t, m, to))
			requireDelivered(t, tt.server.APIAddr, to)
		})
	}

	t.Run("a mechanism the server does not offer", func(t *testing.T) {
		// mailpit offers PLAIN and LOGIN only: CRAM-MD5 needs the password in clear on the
		// server's side.
		m, err := mail.New(mail.Config{Addr: starttls.SMTPAddr, From: from, CAFile: starttls.CAFile, Username: "flowbridge", Password: "s3cret-pw", Auth: mail.AuthCRAMMD5})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.ErrorContains(t, err, "does not support SMTP AUTH type: CRAM-MD5")
	})
	t.Run("wrong password", func(t *testing.T) {
		m, err := mail.New(mail.Config{Addr: starttls.SMTPAddr, From: from, CAFile: starttls.CAFile, Username: "flowbridge", Password: "wrong-pw"})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.ErrorIs(t, err, mail.ErrAuthFailed)
		require.ErrorContains(t, err, "connect to SMTP server "+starttls.SMTPAddr)
		require.ErrorContains(t, err, "535")
		require.ErrorContains(t, err, "check SMTP_USERNAME and SMTP_PASSWORD")
		require.NotContains(t, err.Error(), "wrong-pw")
	})
	t.Run("a server certificate the system does not trust", func(t *testing.T) {
		m, err := mail.New(mail.Config{Addr: starttls.SMTPAddr, From: from, Username: "flowbridge", Password: "s3cret-pw"})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.ErrorContains(t, err, "certificate signed by unknown authority")
		require.NotErrorIs(t, err, mail.ErrAuthFailed, "retryable: SMTP_TLS_CA may be fixed")
		require.NotErrorIs(t, err, mail.ErrRejected)
	})
	t.Run("implicit TLS to a STARTTLS port", func(t *testing.T) {
		m, err := mail.New(mail.Config{Addr: starttls.SMTPAddr, From: from, TLS: mail.TLSImplicit, CAFile: starttls.CAFile, Username: "flowbridge", Password: "s3cret-pw"})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.Error(t, err)
		require.NotErrorIs(t, err, mail.ErrAuthFailed)
	})
	t.Run("STARTTLS required, the server offers none", func(t *testing.T) {
		smtpAddr, _ := testenv.Mailpit(t)
		m, err := mail.New(mail.Config{Addr: smtpAddr, From: from})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.ErrorContains(t, err, "does not support STARTTLS")
		require.NotErrorIs(t, err, mail.ErrRejected, "retryable: the server (or someone between) may offer it again")
	})
	t.Run("no AUTH to a server that requires it", func(t *testing.T) {
		m, err := mail.New(mail.Config{Addr: starttls.SMTPAddr, From: from, CAFile: starttls.CAFile})
		require.NoError(t, err)
		err = send(t, m, "a@example.com")
		require.ErrorIs(t, err, mail.ErrRejected, "MAIL FROM refused for good without AUTH: %v", err)
	})
}

func TestNewRefusesBadConfigs(t *testing.T) {
	tests := []struct {
		name    string
		cfg     mail.Config
		wantErr string
	}{
		{name: "no port", cfg: mail.Config{Addr: "no-port", From: "a@example.com"}, wantErr: "SMTP address"},
		{name: "bad from", cfg: mail.Config{Addr: "127.0.0.1:25", From: "not an address"}, wantErr: "from address"},
		{name: "bad TLS", cfg: mail.Config{Addr: "127.0.0.1:25", From: "a@example.com", TLS: "ssl"}, wantErr: "want starttls, tls or none"},
		{name: "bad AUTH", cfg: mail.Config{Addr: "127.0.0.1:25", From: "a@example.com", Auth: "ntlm"}, wantErr: "want auto, plain, login or cram-md5"},
		{name: "user without password", cfg: mail.Config{Addr: "127.0.0.1:25", From: "a@example.com", Username: "u"}, wantErr: "both a username and a password"},
		{name: "password in clear text", cfg: mail.Config{Addr: "smtp.example.com:25", From: "a@example.com", TLS: mail.TLSNone, Username: "u", Password: "p"}, wantErr: "clear text"},
		{name: "no CA file", cfg: mail.Config{Addr: "127.0.0.1:25", From: "a@example.com", CAFile: "/nonexistent/ca.pem"}, wantErr: "read CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.New(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
	_, err := mail.New(mail.Config{Addr: "relay.internal:25", From: "a@example.com", TLS: mail.TLSNone, Username: "u", Password: "p", AllowInsecureAuth: true})
	require.NoError(t, err, "clear text AUTH when explicitly allowed")
	_, err = mail.New(mail.Config{Addr: "127.0.0.1:25", From: "a@example.com", TLS: mail.TLSNone, Username: "u", Password: "p"})
	require.NoError(t, err, "clear text AUTH to loopback")
}

func TestSendRefusesBadRecipientsAndReportsUnreachableServers(t *testing.T) {
	m, err := mail.New(mail.Config{Addr: "127.0.0.1:1", From: "a@example.com", TLS: mail.TLSNone})
	require.NoError(t, err)
	err = m.Send(context.Background(), mail.Message{To: "bad address"})
	require.ErrorContains(t, err, "recipient")
	err = m.Send(context.Background(), mail.Message{To: "b@example.com"})
	require.ErrorContains(t, err, "connect to SMTP server 127.0.0.1:1")
	require.NotErrorIs(t, err, mail.ErrRejected)
	require.NotErrorIs(t, err, mail.ErrAuthFailed)
}
