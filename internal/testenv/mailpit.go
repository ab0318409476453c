package testenv

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// MailTo returns the ids of the messages mailpit (its API at apiAddr) holds for address.
func MailTo(t testing.TB, apiAddr, address string) []string {
	t.Helper()
	var body struct {
		MessagesCount int `json:"messages_count"`
		Messages      []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	getJSON(t, "http://"+apiAddr+"/api/v1/search?query="+url.QueryEscape("to:"+address), &body)
	ids := make([]string, len(body.Messages))
	for i, m := range body.Messages {
		ids[i] = m.ID
	}
	if len(ids) != body.MessagesCount {
		t.Fatalf("mailpit listed %d messages for %s, but counts %d", len(ids), address, body.MessagesCount)
	}
	return ids
}

// MailText returns the plain-text body of mailpit's message id, with "\n" line ends.
func MailText(t testing.TB, apiAddr, id string) string {
	t.Helper()
	_, text := MailMessage(t, apiAddr, id)
	return text
}

// MailMessage returns the decoded subject and the plain-text body (with "\n" line ends)
// of mailpit's message id.
func MailMessage(t testing.TB, apiAddr, id string) (subject, text string) {
	t.Helper()
	var msg struct {
		Subject string `json:"Subject"`
		Text    string `json:"Text"`
	}
	getJSON(t, "http://"+apiAddr+"/api/v1/message/"+url.PathEscape(id), &msg)
	return msg.Subject, strings.ReplaceAll(msg.Text, "\r\n", "\n")
}

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
