package mail_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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

	var found struct {
		Messages []struct {
			ID      string `json:"ID"`
			Subject string `json:"Subject"`
		} `json:"messages"`
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + api + "/api/v1/search?query=" + url.QueryEscape("to:"+to))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&found) == nil && len(found.Messages) == 1
	}, "message to %s not in mailpit", to)
	require.Equal(t, "Grüße", found.Messages[0].Subject)

	resp, err := http.Get("http://" + api + "/api/v1/message/" + found.Messages[0].ID)
	require.NoError(t, err)
	defer resp.Body.Close()
	var msg struct {
		Text string `json:"Text"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg))
	require.Equal(t, "line one\r\n.\r\nline three\r\n", msg.Text, "a lone dot survives SMTP dot-stuffing")
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
