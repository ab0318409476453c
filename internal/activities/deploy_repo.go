package activities

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"go.temporal.io/sdk/temporal"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// repoAllowList holds the repositories that may deploy, each as a host (with its port,
// if any) and path segments; a segment "*" stands for any one segment.
type repoAllowList [][]string

// newRepoAllowList checks entries such as "github.com/acme/app" or "github.com/acme/*".
func newRepoAllowList(entries []string) (repoAllowList, error) {
	var l repoAllowList
	for _, e := range entries {
		e = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e)), ".git")
		segs := strings.Split(strings.Trim(e, "/"), "/")
		ok := !strings.Contains(e, "://") && !strings.ContainsAny(e, " \t@") && len(segs) >= 2 && !strings.Contains(segs[0], "*")
		for _, s := range segs {
			ok = ok && s != "" && s != "." && s != ".." && (s == "*" || !strings.Contains(s, "*"))
		}
		if !ok {
			return nil, fmt.Errorf("DEPLOY_ALLOWED_REPOS entry %q: want host/owner/repo or host/owner/* (no scheme, '*' for one whole path segment), e.g. github.com/acme/app", e)
		}
		l = append(l, segs)
	}
	return l, nil
}

// allows reports whether the repository key (host/owner/repo, see cloneKey) is on l.
func (l repoAllowList) allows(key string) bool {
	segs := strings.Split(key, "/")
next:
	for _, e := range l {
		if len(e) != len(segs) {
			continue
		}
		for i, s := range e {
			if s != "*" && s != segs[i] {
				continue next
			}
		}
		return true
	}
	return false
}

// cloneKey returns the repository a clone URL names, as lower-case host/path without
// ".git": "github.com/acme/app" for https://github.com/acme/app.git,
// ssh://git@github.com/acme/app and git@github.com:acme/app.git. It takes nothing else:
// no other scheme (file://, git://, http://), no local path, no transport helper
// (ext::, fd::), nothing that starts with '-' and could be read as a git option, no
// credentials, query, fragment or percent-encoding, no "." or ".." segments.
func cloneKey(raw string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("clone_url %q %s: want an https://, ssh:// or git@host:owner/repo URL", redactUserinfo(raw), why)
	}
	switch {
	case raw == "":
		return bad("is empty")
	case strings.HasPrefix(raw, "-"):
		return bad("starts with '-'")
	case strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII }) >= 0:
		return bad("has spaces, control or non-ASCII characters")
	case strings.Contains(raw, "::"):
		return bad("names a git transport helper")
	case strings.ContainsAny(raw, "%?#\\"):
		return bad("has percent-encoding, a query, a fragment or a backslash")
	}
	var host, path string
	if scheme, _, ok := strings.Cut(raw, "://"); ok {
		if scheme != "https" && scheme != "ssh" {
			return bad("has scheme " + scheme)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" {
			return bad("is not a URL")
		}
		if _, hasPass := u.User.Password(); hasPass || (scheme == "https" && u.User != nil) {
			return "", fmt.Errorf("clone_url of %s carries credentials: give the worker's git its credentials instead", u.Host)
		}
		host, path = u.Host, u.Path
	} else {
		// scp-like: [user@]host:path, with no slash before the colon (else git reads a local path).
		before, after, ok := strings.Cut(raw, ":")
		if !ok || strings.Contains(before, "/") || strings.HasPrefix(after, "/") || strings.HasPrefix(after, "~") {
			return bad("is a local path or not a URL")
		}
		if i := strings.LastIndexByte(before, '@'); i >= 0 {
			if i == 0 {
				return bad("has an empty user")
			}
			before = before[i+1:]
		}
		host, path = before, after
	}
	if host == "" || strings.HasPrefix(host, "-") || strings.IndexFunc(host, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".-:[]", r)
	}) >= 0 {
		return bad("has no valid host")
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "-") {
			return bad("has an empty, '.', '..' or '-' path segment")
		}
	}
	return strings.ToLower(host + "/" + path), nil
}

// checkTarget refuses, before git runs, a deploy of t at sha (t.CommitSHA, or the
// commit a rollback deploys) that the allow-list does not let through: both commits must
// be hex commit ids, the clone URL must be an https or ssh URL (cloneKey) of a repository
// on l, and that repository must be t.Repository. The error is a non-retryable
// contract.ErrorTypeRepositoryNotAllowed error.
func (l repoAllowList) checkTarget(t DeployTarget, sha string) error {
	refuse := func(msg string) error {
		return temporal.NewNonRetryableApplicationError(msg, contract.ErrorTypeRepositoryNotAllowed, nil)
	}
	for _, c := range []string{t.CommitSHA, sha} {
		if !isCommitSHA(c) {
			return refuse(fmt.Sprintf("commit %q is not a hex commit id (7 to 64 digits)", c))
		}
	}
	key, err := cloneKey(t.CloneURL)
	if err != nil {
		return refuse(err.Error())
	}
	_, path, _ := strings.Cut(key, "/")
	if !strings.EqualFold(path, strings.Trim(t.Repository, "/")) {
		return refuse(fmt.Sprintf("clone_url names %s, not the event's repository %q", key, t.Repository))
	}
	if !l.allows(key) {
		if len(l) == 0 {
			return refuse(fmt.Sprintf("repository %s is not allowed to deploy: DEPLOY_ALLOWED_REPOS is empty, so no repository is; add %s to it", key, key))
		}
		return refuse(fmt.Sprintf("repository %s is not allowed to deploy: add it to DEPLOY_ALLOWED_REPOS (%s, or %s/*)", key, key, key[:strings.LastIndexByte(key, '/')]))
	}
	return nil
}

// redactUserinfo hides what comes before '@' in the authority of a URL (a password, or
// a token used as the user name), for messages.
func redactUserinfo(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = "…@" + authority[i+1:]
	}
	if path != "" || strings.Contains(rest, "/") {
		path = "/" + path
	}
	return scheme + "://" + authority + path
}

func isCommitSHA(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
