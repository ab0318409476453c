package ingress

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// github serves POST /webhooks/github: it verifies X-Hub-Signature-256 and publishes a
// push to a branch as blueprint.pushed, any other event as github.<event>, with the
// delivery id as the CloudEvent id so that a redelivery is dropped as a duplicate.
// A ping is answered 200 and publishes nothing.
func (in *Ingest) github(r *http.Request) answer {
	if len(in.cfg.GitHubSecrets) == 0 {
		return refusef(http.StatusServiceUnavailable, "the GitHub webhook is not configured: set GITHUB_WEBHOOK_SECRET")
	}
	body, fail := readBody(r)
	if fail != nil {
		return *fail
	}
	if err := verifyGitHub(body, r.Header.Get("X-Hub-Signature-256"), in.cfg.GitHubSecrets); err != nil {
		return refuse(http.StatusUnauthorized, failure{Error: err.Error()})
	}
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	if event == "" || delivery == "" {
		return refusef(http.StatusBadRequest, "missing X-GitHub-Event or X-GitHub-Delivery header: only GitHub's webhook deliveries are accepted here")
	}
	// Checked before ping, so that a misconfigured webhook fails on its very first delivery.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return refusef(http.StatusBadRequest, "GitHub sent Content-Type %q: set the webhook's content type to application/json", r.Header.Get("Content-Type"))
	}
	if event == "ping" {
		return answer{status: http.StatusOK, body: map[string]string{"status": "pong: the webhook reaches flowbridge; nothing published"}}
	}
	// The body is decoded once: a push for its fields (the repository among them), any
	// other event for its repository only.
	var push githubPush
	var repo string
	var err error
	if event == "push" {
		err = json.Unmarshal(body, &push)
		repo = push.Repository.FullName
	} else {
		var envelope struct {
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		}
		err = json.Unmarshal(body, &envelope)
		repo = envelope.Repository.FullName
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case event == "push" && errors.As(err, &typeErr) && typeErr.Field != "": // an object, with a field of the wrong type
		return refuse(http.StatusBadRequest, failure{Error: "GitHub push delivery " + events.Printable(delivery) + ": " + err.Error(), ID: shownID(delivery)})
	case err != nil:
		return refusef(http.StatusBadRequest, "GitHub %s delivery %s is not a JSON object: %v", events.Printable(event), events.Printable(delivery), err)
	}
	source := "/github"
	if repo != "" {
		source += "/" + repo
	}
	typ, data := contract.TypePrefixGitHub+event, body
	if event == "push" {
		if pushed, ok := push.branchPush(); ok {
			typ = contract.TypeBlueprintPushed
			data, _ = json.Marshal(pushed) // cannot fail: strings only
		}
	}
	ev := newEvent(delivery, typ, source, in.cfg.Now(), data)
	if f := in.check(ev); f != nil {
		return refuse(http.StatusBadRequest, *f)
	}
	return in.store(r.Context(), ev)
}

// verifyGitHub accepts body when header is "sha256=" and the hex HMAC-SHA256 of body
// under any of secrets, compared in constant time.
func verifyGitHub(body []byte, header string, secrets []string) error {
	if header == "" {
		return errors.New("missing X-Hub-Signature-256 header: set a secret on the GitHub webhook")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return errors.New("X-Hub-Signature-256 header is not sha256=<hex HMAC-SHA256 of the body>")
	}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sig) {
			return nil
		}
	}
	return errors.New("X-Hub-Signature-256 matches no configured secret: check GITHUB_WEBHOOK_SECRET against the webhook's secret")
}

// githubPush is what the webhook reads of a push delivery.
type githubPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Pusher struct {
		Name string `json:"name"`
	} `json:"pusher"`
	HeadCommit *struct {
		Message string `json:"message"`
	} `json:"head_commit"` // null when the push deletes the branch
}

// branchPush reads a push delivery. ok is false for a push that deploys nothing: a tag,
// or a branch deletion (which GitHub marks with deleted, and an all-zero after).
func (push *githubPush) branchPush() (p contract.BlueprintPushed, ok bool) {
	if !strings.HasPrefix(push.Ref, "refs/heads/") || push.Deleted || strings.Trim(push.After, "0") == "" {
		return p, false
	}
	p = contract.BlueprintPushed{
		Repository: push.Repository.FullName,
		CloneURL:   push.Repository.CloneURL,
		Ref:        push.Ref,
		CommitSHA:  push.After,
		Pusher:     push.Pusher.Name,
	}
	if push.HeadCommit != nil {
		p.Message = push.HeadCommit.Message
	}
	return p, true
}
