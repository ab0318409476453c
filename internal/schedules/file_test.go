package schedules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/schedules"
)

// The built-in file holds the three schedules the worker kept before schedules were
// configuration, with the same crons, workflows and policies.
func TestDefaultFileIsTheBuiltInSchedules(t *testing.T) {
	specs, err := schedules.Load("", schedules.Crons{})
	require.NoError(t, err)
	want := []schedules.Spec{
		{ID: schedules.DailyReportID, Cron: schedules.DefaultDailyReportCron, Workflow: contract.DailyReportWorkflow, Args: []any{map[string]any{}},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, CatchupWindow: 7 * 24 * time.Hour},
		{ID: schedules.CleanupID, Cron: schedules.DefaultCleanupCron, Workflow: contract.CleanupWorkflow,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: time.Hour},
		{ID: schedules.BackupID, Cron: schedules.DefaultBackupCron, Workflow: contract.BackupWorkflow,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: 24 * time.Hour},
	}
	require.Equal(t, want, specs)
	require.Equal(t, want, schedules.Specs(schedules.Crons{}))
}

func TestLoadOverridesCrons(t *testing.T) {
	specs, err := schedules.Load("", schedules.Crons{Cleanup: "15 */2 * * *"})
	require.NoError(t, err)
	require.Equal(t, schedules.DefaultDailyReportCron, specs[0].Cron, "a cron not given keeps the file's")
	require.Equal(t, "15 */2 * * *", specs[1].Cron)

	// An override replaces an interval too.
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("schedules:\n  - {id: backup, every: 6h, offset: 1h, workflow: Backup}\n"), 0o600))
	specs, err = schedules.Load(path, schedules.Crons{Backup: "0 3 * * *"})
	require.NoError(t, err)
	require.Equal(t, schedules.Spec{ID: "backup", Cron: "0 3 * * *", Workflow: "Backup"}, specs[0])

	// A cron for a schedule the file does not declare would be lost: an error.
	_, err = schedules.Load(path, schedules.Crons{DailyReport: "0 7 * * *"})
	require.ErrorIs(t, err, schedules.ErrInvalidSpec)
	require.ErrorContains(t, err, "SCHEDULE_DAILY_REPORT is set but "+path+" declares no schedule daily-report")
}

func TestParseEveryField(t *testing.T) {
	specs, err := schedules.Parse([]byte(`
schedules:
  - id: poll-acme
    every: 15m
    offset: 2m
    jitter: 30s
    workflow: ConnectorSync
    task_queue: connectors
    workflow_id: connector-poll-acme
    input: {id: poll-acme, type: connector.sync.requested, source: /flowbridge/schedules, data: {connector_id: acme}}
    overlap: buffer_one
    catchup_window: 10m
    paused: true
  - id: morning
    cron: "30 7 * * 1-5"
    time_zone: Europe/Paris
    workflow: Greet
    args: [{name: ada}, 2, "plain {text}"]
`), "schedules.yaml")
	require.NoError(t, err)
	require.Equal(t, []schedules.Spec{
		{
			ID: "poll-acme", Every: 15 * time.Minute, Offset: 2 * time.Minute, Jitter: 30 * time.Second,
			Workflow: "ConnectorSync", TaskQueue: "connectors", WorkflowID: "connector-poll-acme",
			Args: []any{map[string]any{
				"id": "poll-acme", "type": "connector.sync.requested", "source": "/flowbridge/schedules",
				"data": map[string]any{"connector_id": "acme"},
			}},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, CatchupWindow: 10 * time.Minute, Paused: true,
		},
		{
			ID: "morning", Cron: "30 7 * * 1-5", TimeZone: "Europe/Paris", Workflow: "Greet",
			Args: []any{map[string]any{"name": "ada"}, 2, "plain {text}"},
		},
	}, specs)
	require.Equal(t, "every 15m0s offset 2m0s", specs[0].When())
	require.Equal(t, `cron "30 7 * * 1-5" Europe/Paris`, specs[1].When())
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		file string
		msgs []string
	}{
		{name: "unknown field", file: "schedules:\n  - {id: a, cron: '0 * * * *', workflow: W, crn: x}\n", msgs: []string{"field crn not found"}},
		{name: "no workflow", file: "schedules:\n  - {id: a, cron: '0 * * * *'}\n", msgs: []string{"schedules.yaml:2: schedule a:", "needs an id, a cron expression and a workflow type"}},
		{name: "no when", file: "schedules:\n  - {id: a, workflow: W}\n", msgs: []string{"needs an id, a cron expression"}},
		{name: "cron and every", file: "schedules:\n  - {id: a, cron: '0 * * * *', every: 1h, workflow: W}\n", msgs: []string{"both a cron expression and an interval"}},
		{name: "offset without every", file: "schedules:\n  - {id: a, cron: '0 * * * *', offset: 1m, workflow: W}\n", msgs: []string{"offset without an interval"}},
		{name: "bad duration", file: "schedules:\n  - {id: a, every: soon, workflow: W}\n", msgs: []string{`"soon" is not a duration`}},
		{name: "bad overlap", file: "schedules:\n  - {id: a, every: 1h, workflow: W, overlap: never}\n", msgs: []string{`overlap "never" is not skip`}},
		{name: "bad time zone", file: "schedules:\n  - {id: a, cron: '0 * * * *', workflow: W, time_zone: Mars/Olympus}\n", msgs: []string{`time_zone "Mars/Olympus" is not an IANA time zone`}},
		{name: "input and args", file: "schedules:\n  - {id: a, every: 1h, workflow: W, input: 1, args: [2]}\n", msgs: []string{"input (one argument) or args"}},
		{name: "a template", file: "schedules:\n  - {id: a, every: 1h, workflow: W, args: [{user: '{{ .data.user_id }}'}]}\n", msgs: []string{"args[0]", "static values"}},
		{name: "every error, each with its line", file: "schedules:\n  - {id: a, every: 1h, workflow: W}\n  - {id: a, every: 1h, workflow: W}\n  - {id: b, every: 1h}\n",
			msgs: []string{"schedules.yaml:3: schedule a: id already used by the schedule on line 2", "schedules.yaml:4: schedule b:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schedules.Parse([]byte(tt.file), "schedules.yaml")
			require.ErrorIs(t, err, schedules.ErrInvalidSpec)
			for _, msg := range tt.msgs {
				require.ErrorContains(t, err, msg)
			}
		})
	}
}

// docs/schedules.md polls a connector with one entry whose input is the envelope of a
// connector.sync.requested event: ConnectorSync reads it as it reads the bridge's.
func TestConnectorPollEntry(t *testing.T) {
	specs, err := schedules.Parse([]byte(`
schedules:
  - id: connector-poll-acme
    every: 15m
    workflow: ConnectorSync
    overlap: skip
    input:
      id: connector-poll-acme
      type: connector.sync.requested
      source: /flowbridge/schedules
      data: {connector_id: acme}
`), "schedules.yaml")
	require.NoError(t, err)
	require.Equal(t, contract.ConnectorSyncWorkflow, specs[0].Workflow)
	payload, err := json.Marshal(specs[0].Args[0])
	require.NoError(t, err)
	var ev contract.Event
	require.NoError(t, json.Unmarshal(payload, &ev))
	var in contract.ConnectorSyncRequested
	require.NoError(t, ev.DecodeData(&in))
	require.Equal(t, "acme", in.ConnectorID)
	require.Equal(t, "connector-poll-acme", ev.ID)
}
