package activities

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
)

func TestCloneKey(t *testing.T) {
	tests := []struct {
		url, want, wantErr string
	}{
		{url: "https://github.com/acme/app.git", want: "github.com/acme/app"},
		{url: "https://github.com/Acme/App", want: "github.com/acme/app"},
		{url: "https://git.example.com:8443/group/sub/app.git/", want: "git.example.com:8443/group/sub/app"},
		{url: "ssh://git@github.com/acme/app.git", want: "github.com/acme/app"},
		{url: "ssh://git@git.example.com:2222/acme/app.git", want: "git.example.com:2222/acme/app"},
		{url: "git@github.com:acme/app.git", want: "github.com/acme/app"},
		{url: "github.com:acme/app", want: "github.com/acme/app"},

		{url: "", wantErr: "is empty"},
		{url: "file:///srv/git/acme/app.git", wantErr: "has scheme file"},
		{url: "http://github.com/acme/app.git", wantErr: "has scheme http"},
		{url: "git://github.com/acme/app.git", wantErr: "has scheme git"},
		{url: "/srv/git/acme/app.git", wantErr: "local path"},
		{url: "./acme/app", wantErr: "local path"},
		{url: "acme/app", wantErr: "local path"},
		{url: "git@host:/srv/git/app.git", wantErr: "local path"},
		{url: "--upload-pack=touch /tmp/x", wantErr: "starts with '-'"},
		{url: "-oProxyCommand=x:acme/app", wantErr: "starts with '-'"},
		{url: "ext::sh", wantErr: "transport helper"},
		{url: "fd::3", wantErr: "transport helper"},
		{url: "https::github.com/acme/app", wantErr: "transport helper"},
		{url: "ssh://-oProxyCommand=touch/acme/app", wantErr: "no valid host"},
		{url: "https://github.com/acme/../evil/app", wantErr: "path segment"},
		{url: "https://github.com/acme/-app", wantErr: "path segment"},
		{url: "https://github.com/acme/%2e%2e/app", wantErr: "percent-encoding"},
		{url: "https://github.com/acme/app?x=1", wantErr: "query"},
		{url: "https://github.com/acme/app\n", wantErr: "control"},
		{url: "https://github.com", wantErr: "path segment"},
		{url: "https://x-access-token:ghp_secret@github.com/acme/app.git", wantErr: "carries credentials"},
		{url: "https://ghp_secret@github.com/acme/app.git", wantErr: "carries credentials"},
		{url: "ssh://git:ghp_secret@github.com/acme/app.git", wantErr: "carries credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := cloneKey(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("cloneKey(%q) = %q, %v; want an error containing %q", tt.url, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "ghp_secret") {
					t.Fatalf("error %q shows the credentials", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("cloneKey(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
			}
		})
	}
}

func TestRepoAllowList(t *testing.T) {
	l, err := newRepoAllowList([]string{"github.com/acme/app", " GitHub.com/infra/* ", "git.example.com:2222/ops/site.git"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"github.com/acme/app":           true,
		"github.com/acme/app2":          false,
		"github.com/acme/app/extra":     false,
		"github.com/infra/anything":     true,
		"github.com/infra/group/nested": false,
		"gitlab.com/acme/app":           false,
		"git.example.com:2222/ops/site": true,
		"git.example.com/ops/site":      false,
	} {
		if got := l.allows(key); got != want {
			t.Errorf("allows(%q) = %v, want %v", key, got, want)
		}
	}
	for _, bad := range []string{"https://github.com/acme/app", "github.com", "*/acme/app", "github.com/acme/ap*", "github.com//app", "git@github.com/acme/app"} {
		if _, err := newRepoAllowList([]string{bad}); err == nil || !strings.Contains(err.Error(), "DEPLOY_ALLOWED_REPOS entry") {
			t.Errorf("newRepoAllowList(%q): got %v, want an error naming DEPLOY_ALLOWED_REPOS", bad, err)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	l, err := newRepoAllowList([]string{"github.com/acme/*"})
	if err != nil {
		t.Fatal(err)
	}
	const sha = "0123456789abcdef0123456789abcdef01234567"
	ok := DeployTarget{Repository: "acme/app", CloneURL: "https://github.com/acme/app.git", CommitSHA: sha}
	tests := []struct {
		name    string
		allow   repoAllowList
		edit    func(*DeployTarget)
		sha     string
		wantErr string
	}{
		{name: "allowed", allow: l, edit: func(*DeployTarget) {}, sha: sha},
		{name: "scp-like", allow: l, edit: func(t *DeployTarget) { t.CloneURL = "git@github.com:acme/app.git" }, sha: "0123abc"},
		{name: "empty allow-list", edit: func(*DeployTarget) {}, sha: sha, wantErr: "DEPLOY_ALLOWED_REPOS is empty"},
		{name: "not on the list", allow: l, edit: func(t *DeployTarget) { t.Repository, t.CloneURL = "evil/app", "https://github.com/evil/app.git" }, sha: sha,
			wantErr: "repository github.com/evil/app is not allowed to deploy: add it to DEPLOY_ALLOWED_REPOS"},
		{name: "repository and URL disagree", allow: l, edit: func(t *DeployTarget) { t.CloneURL = "https://github.com/acme/other.git" }, sha: sha,
			wantErr: `clone_url names github.com/acme/other, not the event's repository "acme/app"`},
		{name: "option as commit", allow: l, edit: func(*DeployTarget) {}, sha: "--upload-pack=touch /tmp/x", wantErr: "is not a hex commit id"},
		{name: "short commit", allow: l, edit: func(*DeployTarget) {}, sha: "abc", wantErr: "is not a hex commit id"},
		{name: "file URL", allow: l, edit: func(t *DeployTarget) { t.CloneURL = "file:///srv/acme/app" }, sha: sha, wantErr: "has scheme file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := ok
			tt.edit(&tg)
			err := tt.allow.checkTarget(tg, tt.sha)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkTarget: %v", err)
				}
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != contract.ErrorTypeRepositoryNotAllowed || !app.NonRetryable() || !strings.Contains(app.Message(), tt.wantErr) {
				t.Fatalf("checkTarget: got %v, want a non-retryable %s error containing %q", err, contract.ErrorTypeRepositoryNotAllowed, tt.wantErr)
			}
		})
	}
}

// Even a URL or a commit that got past the allow-list could not make git run a
// command: both follow "--", and git speaks only https and ssh. On a local repository
// (which git reaches by running git-upload-pack) "--upload-pack=touch <file>" as the
// commit ran touch before.
func TestGitCheckoutTakesNoOptions(t *testing.T) {
	src := t.TempDir()
	for _, args := range [][]string{{"init", "--quiet"}, {"-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "c"}} {
		cmd := exec.Command("git", append([]string{"-C", src}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.TrimSpace(string(out))
	tests := []struct {
		name     string
		url, sha func(marker string) string
	}{
		{"option as the commit", func(string) string { return src }, func(m string) string { return "--upload-pack=touch " + m }},
		{"option as the URL", func(m string) string { return "--upload-pack=touch " + m }, func(string) string { return sha }},
		{"local path", func(string) string { return src }, func(string) string { return sha }},
		{"file URL", func(string) string { return "file://" + src }, func(string) string { return sha }},
		{"ext transport", func(m string) string { return "ext::sh -c touch% " + m }, func(string) string { return sha }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			marker := filepath.Join(t.TempDir(), "pwned")
			url, sha := tt.url(marker), tt.sha(marker)
			dir := filepath.Join(t.TempDir(), "src")
			err := gitCheckout(ctx, url, sha, dir, true, runHooks{line: func(string, string) {}, beat: func(DeployProgress) {}})
			if err == nil {
				t.Fatalf("gitCheckout(%q, %q) checked out; want it refused", url, sha)
			}
			if _, statErr := os.Stat(marker); statErr == nil {
				t.Fatalf("gitCheckout(%q, %q) ran the injected command (%v)", url, sha, err)
			}
		})
	}
}
