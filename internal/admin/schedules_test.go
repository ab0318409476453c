package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/flowbridge/flowbridge/internal/admin"
	"github.com/flowbridge/flowbridge/internal/schedules"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

type applyJSON struct {
	File    string
	DryRun  bool `json:"dry_run"`
	Prune   bool
	Changes []schedules.Change
	Error   string
}

type lsJSON struct {
	File      string
	TaskQueue string `json:"task_queue"`
	Schedules []schedules.Status
}

// schedulesRead runs a schedules command that changes nothing (ls, apply --dry-run),
// again when Temporal answered later than the SDK waits (a loaded machine).
func schedulesRead(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out string
	testenv.Eventually(t, 90*time.Second, func() bool {
		var err error
		out, _, err = bridgeCmd(t, env, false, append([]string{"schedules"}, args...)...)
		if err != nil && strings.Contains(err.Error(), "deadline exceeded") {
			return false
		}
		require.NoError(t, err)
		return true
	}, "bridge schedules %v timed out again and again", args)
	return out
}

// `bridge schedules apply` and `ls`, against the dev server: dry-run changes nothing,
// apply creates, an operator's pause survives a re-apply, --prune deletes only what the
// file dropped.
func TestSchedulesCommands(t *testing.T) {
	c := testenv.Temporal(t)
	taskQueue := testenv.ID("test-")
	prefix := testenv.ID("test-") + "-"
	env := map[string]string{"TEMPORAL_ADDRESS": testenv.TemporalAddress(), "TEMPORAL_TASK_QUEUE": taskQueue}
	for _, id := range []string{prefix + "a", prefix + "b"} {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		})
	}
	both := writeTemp(t, "both.yaml", strings.ReplaceAll("schedules:\n  - {id: ID-a, cron: '0 6 * * *', workflow: Greet}\n  - {id: ID-b, every: 2h, workflow: Greet}\n", "ID-", prefix))
	one := writeTemp(t, "one.yaml", strings.ReplaceAll("schedules:\n  - {id: ID-a, cron: '0 7 * * *', workflow: Greet}\n", "ID-", prefix))

	out := schedulesRead(t, env, "apply", "--dry-run", both, "--json")
	var res applyJSON
	decodeJSON(t, out, &res)
	require.True(t, res.DryRun)
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: "create"}, {ID: prefix + "b", Op: "create"}}, res.Changes)
	out = schedulesRead(t, env, "ls", both, "--json")
	var ls lsJSON
	decodeJSON(t, out, &ls)
	require.Len(t, ls.Schedules, 2)
	require.False(t, ls.Schedules[0].Exists, "a dry run creates nothing")

	out, _, err := bridgeCmd(t, env, false, "schedules", "apply", both)
	require.NoError(t, err)
	require.Contains(t, out, "create "+prefix+"a")
	require.Contains(t, out, "applied")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, c.ScheduleClient().GetHandle(ctx, prefix+"a").Pause(ctx, client.SchedulePauseOptions{Note: "quiet week"}))

	// The file drops b and moves a: dry run first, then for real.
	testenv.Eventually(t, 30*time.Second, func() bool {
		out = schedulesRead(t, env, "apply", "--prune", "--dry-run", "--json", one)
		decodeJSON(t, out, &res)
		return len(res.Changes) == 2 // b is listed once Temporal's visibility has it
	}, "schedule %sb not listed for prune", prefix)
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: "update", KeptPause: "quiet week"}, {ID: prefix + "b", Op: "delete"}}, res.Changes)
	out, _, err = bridgeCmd(t, env, false, "schedules", "apply", "--prune", one, "--json")
	require.NoError(t, err)
	decodeJSON(t, out, &res)
	require.False(t, res.DryRun)
	require.Equal(t, []schedules.Change{{ID: prefix + "a", Op: "update", KeptPause: "quiet week"}, {ID: prefix + "b", Op: "delete"}}, res.Changes)

	out = schedulesRead(t, env, "ls", "--json", one)
	decodeJSON(t, out, &ls)
	require.Equal(t, taskQueue, ls.TaskQueue)
	require.Len(t, ls.Schedules, 1)
	a := ls.Schedules[0]
	require.True(t, a.Declared && a.Exists && a.Managed && a.Paused, "got %+v", a)
	require.Equal(t, "quiet week", a.Note)
	require.Equal(t, `cron "0 7 * * *"`, a.When)
	out = schedulesRead(t, env, "ls", one)
	require.Contains(t, out, "paused: quiet week")
}

func TestSchedulesCommandErrors(t *testing.T) {
	bad := writeTemp(t, "bad.yaml", "schedules:\n  - {id: x, every: 1h}\n")
	env := map[string]string{"TEMPORAL_ADDRESS": testenv.TemporalAddress()}

	_, _, err := bridgeCmd(t, env, false, "schedules", "apply", "a.yaml", "b.yaml")
	require.ErrorIs(t, err, admin.ErrUsage)

	out, _, err := bridgeCmd(t, env, false, "schedules", "apply", "--json", bad)
	require.ErrorIs(t, err, schedules.ErrInvalidSpec)
	var res applyJSON
	decodeJSON(t, out, &res)
	require.Contains(t, res.Error, bad+":2: schedule x:")
	require.Empty(t, res.Changes)

	_, _, err = bridgeCmd(t, map[string]string{"SCHEDULES_FILE": bad}, false, "schedules", "ls")
	require.ErrorContains(t, err, "needs an id, a cron expression and a workflow type")

	_, _, err = bridgeCmd(t, map[string]string{"SCHEDULE_BACKUP": "0 3 * * *"}, false, "schedules", "apply", "--dry-run", writeTemp(t, "s.yaml", "schedules: []\n"))
	require.ErrorContains(t, err, "SCHEDULE_BACKUP is set but")

	out, _, err = bridgeCmd(t, nil, false, "schedules", "default")
	require.NoError(t, err)
	require.Equal(t, string(schedules.DefaultYAML()), out)
	out, _, err = bridgeCmd(t, nil, false, "schedules", "default", "--json")
	require.NoError(t, err)
	var def map[string]any
	decodeJSON(t, out, &def)
	var want map[string]any
	require.NoError(t, yaml.Unmarshal(schedules.DefaultYAML(), &want))
	require.Equal(t, want, def)
	require.Len(t, def["schedules"], 3)
}
