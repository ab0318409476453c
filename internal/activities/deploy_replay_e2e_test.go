package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// pushAgain starts BlueprintDeploy for sha's push delivered once more, under a new event
// id and a later time, as a replayed webhook reaches the worker once the stream's
// duplicate window and Temporal's retention have passed: a new run of the same workflow
// id.
func (e *deployE2E) pushAgain(t *testing.T, sha string, after time.Duration) client.WorkflowRun {
	t.Helper()
	data, err := json.Marshal(contract.BlueprintPushed{Repository: e.name, CloneURL: e.repo.URL(), Ref: "refs/heads/main", CommitSHA: sha, Pusher: "ada"})
	require.NoError(t, err)
	ev := contract.Event{ID: testenv.ID("evt-replayed-"), Type: "blueprint.pushed", Source: "/test", Time: e.t0.Add(after), Data: data}
	run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                    "deploy-" + strings.ReplaceAll(e.name, "/", "-") + "-" + sha,
		TaskQueue:             e.queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, contract.BlueprintDeployWorkflow, ev)
	require.NoError(t, err)
	return run
}

func (e *deployE2E) row(t *testing.T, workflowID string) store.Deploy {
	t.Helper()
	d, err := e.store.DeployByID(context.Background(), workflowID)
	require.NoError(t, err)
	return d
}

// TestReplayedPushDeploysNothing: A deploys, then B (A's child) starts deploying; A's
// push delivered again deploys nothing and leaves B alone; B's push delivered again
// deploys nothing either. On the Temporal dev server, with PostgreSQL and git.
func TestReplayedPushDeploysNothing(t *testing.T) {
	e := newDeployE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	builds := filepath.Join(t.TempDir(), "builds") // one line per build that ran
	build := func(label string) string {
		return fmt.Sprintf("echo %s >> %s && mkdir -p out && echo ok > out/artifact", label, builds)
	}
	requireBuilds := func(want ...string) {
		t.Helper()
		b, err := os.ReadFile(builds)
		require.NoError(t, err)
		require.Equal(t, want, strings.Fields(string(b)), "builds that ran")
	}

	shaA := e.commit(t, "a", build("a"), "ok")
	runA := e.push(t, shaA, 0)
	var res workflows.DeployResult
	require.NoError(t, runA.Get(ctx, &res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)

	// B waits in its build until the test opens the gate.
	gate := filepath.Join(t.TempDir(), "gate")
	shaB := e.commit(t, "b", fmt.Sprintf("echo waiting for the gate; while [ ! -e %s ]; do sleep 0.1; done; %s", gate, build("b")), "ok")
	runB := e.push(t, shaB, time.Minute)
	testenv.Eventually(t, time.Minute, func() bool {
		desc, err := e.tc.DescribeWorkflowExecution(ctx, runB.GetID(), "")
		if err != nil || len(desc.PendingActivities) == 0 || desc.PendingActivities[0].HeartbeatDetails == nil {
			return false
		}
		var p activities.DeployProgress
		err = converter.GetDefaultDataConverter().FromPayloads(desc.PendingActivities[0].HeartbeatDetails, &p)
		return err == nil && p.Step == contract.StepBuild && p.LastLine == "waiting for the gate"
	}, "the build of %s never started", shaB)

	// A's push again, an hour later: older than B, which keeps running.
	published := len(e.pub.Published())
	againA := e.pushAgain(t, shaA, time.Hour)
	require.NoError(t, againA.Get(ctx, &res))
	require.Equal(t, workflows.DeploySkipped, res.Status)
	require.Equal(t, contract.StepQueued, res.Step)
	require.Equal(t, fmt.Sprintf("commit %s is older than %s, the last deploy of %s refs/heads/main (%s, running): a replayed or out-of-date push deploys nothing; to go back, push a revert",
		shaA, shaB, e.name, runB.GetID()), res.Reason)
	require.Len(t, e.pub.Published(), published, "the replayed push emitted deploy events")
	rowB := e.row(t, runB.GetID())
	require.Equal(t, store.DeployRunning, rowB.Status)
	require.Empty(t, rowB.SupersededBy)
	rowA := e.row(t, runA.GetID())
	require.Equal(t, runA.GetRunID(), rowA.RunID, "the replay rewrote A's deploy row")
	require.Equal(t, store.DeploySucceeded, rowA.Status)

	// B was not cancelled: it deploys to the end.
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.NoError(t, runB.Get(ctx, &res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)
	types, _ := e.emitted(t, runB)
	require.Equal(t, []string{contract.TypeDeployStarted, contract.TypeDeploySucceeded}, types)
	require.Equal(t, shaB, e.lastGood(t))

	// B's push again: B is what is deployed.
	published = len(e.pub.Published())
	againB := e.pushAgain(t, shaB, 2*time.Hour)
	require.NoError(t, againB.Get(ctx, &res))
	require.Equal(t, workflows.DeploySkipped, res.Status)
	require.Equal(t, fmt.Sprintf("commit %s is already the last deploy of %s refs/heads/main (%s, succeeded): a replayed push deploys nothing; push a new commit to deploy again",
		shaB, e.name, runB.GetID()), res.Reason)
	require.Len(t, e.pub.Published(), published, "the replayed push emitted deploy events")
	require.Equal(t, store.DeploySucceeded, e.row(t, runB.GetID()).Status)
	require.Equal(t, shaB, e.lastGood(t))

	requireBuilds("a", "b")
	e.requireStateFile(t, "ok")
	e.replay(t, runA, runB, againA, againB)
}
