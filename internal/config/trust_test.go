package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/config"
)

func TestParseEventsTokens(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []config.EventsToken
		wantErr string
	}{
		{name: "unset", in: "", want: nil},
		{name: "bare tokens", in: "tok-a, tok-b", want: []config.EventsToken{{Token: "tok-a"}, {Token: "tok-b"}}},
		{name: "scoped", in: "tok-a=user.>|email.verified", want: []config.EventsToken{{Token: "tok-a", Types: []string{"user.>", "email.verified"}}}},
		{name: "webhook types by name", in: "tok-pay=stripe.>,tok-ci=blueprint.pushed", want: []config.EventsToken{
			{Token: "tok-pay", Types: []string{"stripe.>"}}, {Token: "tok-ci", Types: []string{"blueprint.pushed"}}}},
		{name: "base64 padding is part of a bare token", in: "c2VjcmV0Cg==", want: []config.EventsToken{{Token: "c2VjcmV0Cg=="}}},
		{name: "base64 padding then a scope", in: "c2VjcmV0Cg===user.signedup", want: []config.EventsToken{{Token: "c2VjcmV0Cg==", Types: []string{"user.signedup"}}}},
		{name: "one entry a line, spaces around", in: " tok-a = user.> \n\ntok-b\n", want: []config.EventsToken{{Token: "tok-a", Types: []string{"user.>"}}, {Token: "tok-b"}}},
		{name: "bad pattern", in: "tok-a=user.>.x", wantErr: "entry 1: scope"},
		{name: "empty pattern", in: "tok-x,tok-a=user.>||email.verified", wantErr: "entry 2: scope"},
		{name: "space in a token", in: "tok a", wantErr: "entry 1: a token is printable characters"},
		{name: "same token twice", in: "tok-a=user.>,tok-b,tok-a=email.>", wantErr: "entries 1 and 3 have the same token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseEventsTokens(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "tok-a", "an error must not show a token")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "got %+v, want %+v", got, tt.want)
		})
	}
}

func TestLoadBridgeEventsTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(file, []byte("tok-file=user.>\n"), 0o600))
	want := []config.EventsToken{{Token: "tok-file", Types: []string{"user.>"}}}

	c, err := config.LoadBridge(nil, envOf(map[string]string{"INGRESS_EVENTS_TOKENS": "tok-file=user.>"}))
	require.NoError(t, err)
	require.Equal(t, want, c.EventsTokens)
	require.False(t, c.EventsOpen)

	c, err = config.LoadBridge(nil, envOf(map[string]string{"INGRESS_EVENTS_TOKENS_FILE": file}))
	require.NoError(t, err)
	require.Equal(t, want, c.EventsTokens, "INGRESS_EVENTS_TOKENS_FILE, its trailing newline trimmed")

	for _, v := range []string{"true", "1"} {
		c, err = config.LoadBridge(nil, envOf(map[string]string{"INGRESS_EVENTS_OPEN": v}))
		require.NoError(t, err)
		require.True(t, c.EventsOpen, "INGRESS_EVENTS_OPEN=%s", v)
	}
	c, err = config.LoadBridge([]string{"-events-open"}, envOf(nil))
	require.NoError(t, err)
	require.True(t, c.EventsOpen, "-events-open")
}

func TestLoadBridgeEventsTokensInvalid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(file, []byte("tok-secret\n"), 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
	}{
		{name: "both the variable and its file", env: map[string]string{"INGRESS_EVENTS_TOKENS": "tok-secret", "INGRESS_EVENTS_TOKENS_FILE": file},
			wantErr: []string{"INGRESS_EVENTS_TOKENS and INGRESS_EVENTS_TOKENS_FILE are both set"}},
		{name: "missing file", env: map[string]string{"INGRESS_EVENTS_TOKENS_FILE": file + ".missing"}, wantErr: []string{"INGRESS_EVENTS_TOKENS_FILE", "cannot be read"}},
		{name: "bad scope", env: map[string]string{"INGRESS_EVENTS_TOKENS": "tok-secret=user signed up"}, wantErr: []string{"INGRESS_EVENTS_TOKENS", "entry 1: scope"}},
		{name: "open not a bool", env: map[string]string{"INGRESS_EVENTS_OPEN": "yes please"}, wantErr: []string{"INGRESS_EVENTS_OPEN", "is not true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadBridge(nil, envOf(tt.env))
			requireInvalid(t, err, tt.wantErr...)
			require.NotContains(t, err.Error(), "tok-secret", "an error must not show a token")
		})
	}
}

func TestLoadWorkerDeployAllowedRepos(t *testing.T) {
	c, err := config.LoadWorker(nil, envOf(workerKey))
	require.NoError(t, err)
	require.Empty(t, c.DeployAllowedRepos, "unset: no repository may deploy")

	c, err = config.LoadWorker(nil, envOf(with(workerKey, map[string]string{"DEPLOY_ALLOWED_REPOS": "github.com/acme/app, github.com/acme-infra/*"})))
	require.NoError(t, err)
	require.Equal(t, []string{"github.com/acme/app", "github.com/acme-infra/*"}, c.DeployAllowedRepos)

	c, err = config.LoadWorker([]string{"-deploy-allowed-repos=gitlab.example.com/ops/site"}, envOf(with(workerKey, map[string]string{"DEPLOY_ALLOWED_REPOS": "github.com/acme/app"})))
	require.NoError(t, err)
	require.Equal(t, []string{"gitlab.example.com/ops/site"}, c.DeployAllowedRepos, "the flag overrides the variable")
}
