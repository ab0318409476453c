package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// Histories recorded from real runs on the Temporal dev server must replay without a
// non-determinism error: a change to a workflow that breaks running executions fails here.
// To record a new one: run the workflow (make dev; make demo) and save
// `bin/temporal workflow show -w ID -o json` under testdata/.
func TestReplayRecordedHistories(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		register func(worker.WorkflowReplayer)
	}{
		{"onboarding completed", "onboarding_complete.json", registerOnboarding},
		{"onboarding expired (2s reminder, 4s expiry)", "onboarding_expired.json", registerOnboarding},
		// Recorded before deploys pinned their steps to the checkout's worker
		// (ChangePinStepsToWorker).
		{"deploy succeeded, steps on any worker", "deploy_succeeded.json", registerDeploy},
		{"deploy unhealthy and rolled back, steps on any worker", "deploy_rolled_back.json", registerDeploy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			tt.register(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", tt.file)))
		})
	}
}

func registerOnboarding(r worker.WorkflowReplayer) {
	o := &workflows.Onboarding{}
	r.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: contract.UserOnboardingWorkflow})
}

func registerDeploy(r worker.WorkflowReplayer) {
	d := &workflows.Deploy{}
	r.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
}
