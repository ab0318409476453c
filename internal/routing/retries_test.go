package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A route's max_retry_age and max_attempts win over the file's; 0 everywhere leaves the
// bridge's own limits (BRIDGE_MAX_RETRY_AGE, BRIDGE_MAX_ATTEMPTS).
func TestRetryLimits(t *testing.T) {
	file := func(defaults string) string {
		return defaults + `
routes:
  - name: own
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: 'a-{{ .data.user_id }}'
    max_retry_age: 1h
    max_attempts: 3
  - name: inherits
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: 'b-{{ .data.user_id }}'
`
	}
	tbl, err := Parse([]byte(file("max_retry_age: 30m\nmax_attempts: 7\n")), "test")
	require.NoError(t, err)
	age, attempts := tbl.RetryLimits("own")
	require.Equal(t, time.Hour, age)
	require.Equal(t, 3, attempts)
	age, attempts = tbl.RetryLimits("inherits")
	require.Equal(t, 30*time.Minute, age)
	require.Equal(t, 7, attempts)

	tbl, err = Parse([]byte(file("")), "test")
	require.NoError(t, err)
	age, attempts = tbl.RetryLimits("inherits")
	require.Zero(t, age)
	require.Zero(t, attempts)
	age, attempts = tbl.RetryLimits("no such route")
	require.Zero(t, age)
	require.Zero(t, attempts)

	_, err = Parse([]byte(file("max_attempts: -1\n")), "test")
	require.ErrorContains(t, err, "test: max_attempts must not be negative")
	_, err = Parse([]byte(file("max_retry_age: -1s\n")), "test")
	require.ErrorContains(t, err, "test: max_retry_age must not be negative")
	_, err = Parse([]byte(`
routes:
  - name: bad
    events: [user.signedup]
    action: start
    workflow: UserOnboarding
    id: 'a-{{ .data.user_id }}'
    max_attempts: -2
`), "test")
	require.ErrorContains(t, err, "route bad: max_retry_age and max_attempts must not be negative")
	_, err = Parse([]byte(file("max_retry_age: soon\n")), "test")
	require.ErrorContains(t, err, `"soon" is not a duration`)
}
