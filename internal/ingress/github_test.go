package ingress_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

const (
	githubSecret    = "gh-secret-current"
	githubOldSecret = "gh-secret-previous"
	beforeSHA       = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
	zeroSHA         = "0000000000000000000000000000000000000000"
)

// githubDelivery returns the headers GitHub sends with a delivery, signed with secret.
func githubDelivery(event, delivery, secret string, body []byte) http.Header {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return http.Header{
		"Content-Type":        {"application/json"},
		"User-Agent":          {"GitHub-Hookshot/044aadd"},
		"X-Github-Event":      {event},
		"X-Github-Delivery":   {delivery},
		"X-Github-Hook-Id":    {"292430182"},
		"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
	}
}

// pushPayload is a push delivery in the shape GitHub sends.
func pushPayload(t *testing.T, ref, after string, deleted bool) []byte {
	t.Helper()
	var head any
	if !deleted {
		head = map[string]any{"id": after, "message": "Deploy the blueprint\n\nWith a body.", "author": map[string]any{"name": "Ada"}}
	}
	b, err := json.Marshal(map[string]any{
		"ref": ref, "before": beforeSHA, "after": after,
		"created": false, "deleted": deleted, "forced": false,
		"compare":     "https://github.com/acme/blueprints/compare/6dcb09b5b578...",
		"commits":     []any{},
		"head_commit": head,
		"repository": map[string]any{
			"id": 1296269, "name": "blueprints", "full_name": "acme/blueprints",
			"clone_url": "https://github.com/acme/blueprints.git", "default_branch": "main",
		},
		"pusher": map[string]any{"name": "ada", "email": "ada@example.com"},
		"sender": map[string]any{"login": "ada", "id": 1},
	})
	require.NoError(t, err)
	return b
}

const newSHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

func TestGitHubPushDeploys(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{GitHubSecrets: []string{githubSecret}})
	delivery := testenv.ID("delivery-")
	body := pushPayload(t, "refs/heads/main", newSHA, false)
	res := w.post("/webhooks/github", githubDelivery("push", delivery, githubSecret, body), body)
	requireStatus(t, http.StatusAccepted, res)

	got := w.stored()
	require.Len(t, got, 1)
	ev := got[0]
	require.Equal(t, delivery, ev.ID(), "id: got %v, want the delivery id %v", ev.ID(), delivery)
	require.Equal(t, "blueprint.pushed", ev.Type(), "type: got %v, want blueprint.pushed", ev.Type())
	require.Equal(t, "/github/acme/blueprints", ev.Source(), "source: got %v, want /github/acme/blueprints", ev.Source())
	require.True(t, ev.Time().Equal(fixedNow), "time: got %v, want the ingest clock's %v", ev.Time(), fixedNow)
	want := `{"repository":"acme/blueprints","clone_url":"https://github.com/acme/blueprints.git","ref":"refs/heads/main",
		"commit_sha":"` + newSHA + `","pusher":"ada","message":"Deploy the blueprint\n\nWith a body."}`
	require.JSONEq(t, want, string(ev.Data()), "data: got %s, want %s", ev.Data(), want)
}

func TestGitHubForwards(t *testing.T) {
	issue, err := json.Marshal(map[string]any{
		"action": "opened",
		"issue":  map[string]any{"number": 7, "title": "Deploy fails"},
		"repository": map[string]any{
			"full_name": "acme/blueprints", "clone_url": "https://github.com/acme/blueprints.git",
		},
	})
	require.NoError(t, err)
	tests := []struct {
		name       string
		event      string
		body       []byte
		wantType   string
		wantSource string
	}{
		{name: "branch deletion", event: "push", body: pushPayload(t, "refs/heads/feature", zeroSHA, true), wantType: "github.push", wantSource: "/github/acme/blueprints"},
		{name: "tag push", event: "push", body: pushPayload(t, "refs/tags/v1.2.0", newSHA, false), wantType: "github.push", wantSource: "/github/acme/blueprints"},
		{name: "issues", event: "issues", body: issue, wantType: "github.issues", wantSource: "/github/acme/blueprints"},
		{name: "no repository", event: "organization", body: []byte(`{"action":"member_added","organization":{"login":"acme"}}`), wantType: "github.organization", wantSource: "/github"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{GitHubSecrets: []string{githubSecret}})
			delivery := testenv.ID("delivery-")
			requireStatus(t, http.StatusAccepted, w.post("/webhooks/github", githubDelivery(tt.event, delivery, githubSecret, tt.body), tt.body))

			got := w.stored()
			require.Len(t, got, 1)
			ev := got[0]
			require.Equal(t, delivery, ev.ID(), "id: got %v, want %v", ev.ID(), delivery)
			require.Equal(t, tt.wantType, ev.Type(), "type: got %v, want %v", ev.Type(), tt.wantType)
			require.Equal(t, tt.wantSource, ev.Source(), "source: got %v, want %v", ev.Source(), tt.wantSource)
			require.JSONEq(t, string(tt.body), string(ev.Data()), "data: got %s, want the payload %s", ev.Data(), tt.body)
		})
	}
}

func TestGitHubRedeliveryStoredOnce(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{GitHubSecrets: []string{githubSecret}})
	delivery := testenv.ID("delivery-")
	body := pushPayload(t, "refs/heads/main", newSHA, false)
	for range 2 {
		requireStatus(t, http.StatusAccepted, w.post("/webhooks/github", githubDelivery("push", delivery, githubSecret, body), body))
	}
	require.Len(t, w.stored(), 1, "a redelivery (same X-GitHub-Delivery) must be stored once")
}

func TestGitHubRefusals(t *testing.T) {
	body := pushPayload(t, "refs/heads/main", newSHA, false)
	signed := func(mutate func(h http.Header)) http.Header {
		h := githubDelivery("push", "delivery-1", githubSecret, body)
		if mutate != nil {
			mutate(h)
		}
		return h
	}
	tests := []struct {
		name       string
		secrets    []string
		header     http.Header
		body       []byte
		wantStatus int
		wantError  string
	}{
		{
			name:       "ping",
			secrets:    []string{githubSecret},
			header:     githubDelivery("ping", "delivery-ping", githubSecret, []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)),
			body:       []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`),
			wantStatus: http.StatusOK,
			wantError:  "",
		},
		{
			name:       "bad signature",
			secrets:    []string{githubSecret},
			header:     githubDelivery("push", "delivery-1", "not-the-secret", body),
			wantStatus: http.StatusUnauthorized,
			wantError:  "matches no configured secret",
		},
		{
			name:       "tampered body",
			secrets:    []string{githubSecret},
			header:     signed(nil),
			body:       []byte(strings.Replace(string(body), "main", "prod", 1)),
			wantStatus: http.StatusUnauthorized,
			wantError:  "matches no configured secret",
		},
		{
			name:       "missing signature",
			secrets:    []string{githubSecret},
			header:     signed(func(h http.Header) { h.Del("X-Hub-Signature-256") }),
			wantStatus: http.StatusUnauthorized,
			wantError:  "missing X-Hub-Signature-256",
		},
		{
			name:       "sha1 signature only",
			secrets:    []string{githubSecret},
			header:     signed(func(h http.Header) { h.Set("X-Hub-Signature-256", "sha1=abc") }),
			wantStatus: http.StatusUnauthorized,
			wantError:  "is not sha256=",
		},
		{
			name:       "no secret configured",
			header:     signed(nil),
			wantStatus: http.StatusServiceUnavailable,
			wantError:  "set GITHUB_WEBHOOK_SECRET",
		},
		{
			name:       "form-encoded webhook",
			secrets:    []string{githubSecret},
			header:     signed(func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") }),
			wantStatus: http.StatusBadRequest,
			wantError:  "content type to application/json",
		},
		{
			name:       "push not an object",
			secrets:    []string{githubSecret},
			header:     githubDelivery("push", "delivery-1", githubSecret, []byte(`[1]`)),
			body:       []byte(`[1]`),
			wantStatus: http.StatusBadRequest,
			wantError:  "GitHub push delivery delivery-1 is not a JSON object",
		},
		{
			name:       "push with a field of the wrong type",
			secrets:    []string{githubSecret},
			header:     githubDelivery("push", "delivery-1", githubSecret, []byte(`{"ref":5}`)),
			body:       []byte(`{"ref":5}`),
			wantStatus: http.StatusBadRequest,
			wantError:  "GitHub push delivery delivery-1: json: cannot unmarshal number",
		},
		{
			// The delivery id is unsigned: a refusal neither echoes it raw nor carries it
			// as the event's id when it could not be one.
			name:       "push with a field of the wrong type and a junk delivery id",
			secrets:    []string{githubSecret},
			header:     githubDelivery("push", "d\x1b[2J"+strings.Repeat("x", 300), githubSecret, []byte(`{"ref":5}`)),
			body:       []byte(`{"ref":5}`),
			wantStatus: http.StatusBadRequest,
			wantError:  `GitHub push delivery d\x1b[2J`,
		},
		{
			name:       "no delivery id",
			secrets:    []string{githubSecret},
			header:     signed(func(h http.Header) { h.Del("X-Github-Delivery") }),
			wantStatus: http.StatusBadRequest,
			wantError:  "X-GitHub-Delivery",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, ingress.IngestConfig{GitHubSecrets: tt.secrets})
			sent := body
			if tt.body != nil {
				sent = tt.body
			}
			res := w.post("/webhooks/github", tt.header, sent)
			requireStatus(t, tt.wantStatus, res)
			if tt.wantError != "" {
				require.Contains(t, res.Body["error"], tt.wantError, "error: got %q, want it to contain %q", res.Body["error"], tt.wantError)
			}
			msg, _ := res.Body["error"].(string)
			require.NotContains(t, msg, "\x1b", "a refusal echoed a raw control character")
			if id, _ := res.Body["id"].(string); id != "" {
				require.NoError(t, events.CheckID(id), "a refusal carries an id that is no event id")
			}
			w.requireNothingStored(res)
		})
	}
}

func TestGitHubRotatedSecret(t *testing.T) {
	w := newWorld(t, ingress.IngestConfig{GitHubSecrets: []string{githubOldSecret, githubSecret}})
	body := pushPayload(t, "refs/heads/main", newSHA, false)
	requireStatus(t, http.StatusAccepted, w.post("/webhooks/github", githubDelivery("push", testenv.ID("delivery-"), githubSecret, body), body))
	require.Len(t, w.stored(), 1)
}
