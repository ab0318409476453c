package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// TestOnboardingStatusOnTemporal asks a waiting UserOnboarding on the Temporal dev server,
// run by a worker of the test's own with the real activities, for its status: it waits for
// verification. Then the user verifies, the workflow completes and says so, its activity
// rows carry their summaries, and its history replays.
func TestOnboardingStatusOnTemporal(t *testing.T) {
	c := testenv.Temporal(t)
	smtpAddr, _ := testenv.Mailpit(t)
	mailer, err := mail.New(mail.Config{Addr: smtpAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
	require.NoError(t, err)
	acts := &activities.Activities{
		Store: testenv.Store(t), Mailer: mailer, Stripe: activities.NewStripeClient("sk_test_123", testenv.StripeMock(t)),
		Publisher: &testenv.Events{}, Log: testenv.Logger(t), AppURL: "http://app.test",
	}
	require.NoError(t, acts.Validate())

	taskQueue := testenv.ID("test-")
	o := &workflows.Onboarding{} // the default timings: waits a day before reminding
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: contract.UserOnboardingWorkflow})
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	userID := testenv.ID("u-")
	email := userID + "@example.com"
	data, err := json.Marshal(contract.UserSignedUp{UserID: userID, Email: email, Name: "Ada"})
	require.NoError(t, err)
	ev := contract.Event{ID: testenv.ID("evt-"), Type: contract.TypeUserSignedUp, Source: "/test", Data: data}
	wfID := "onboarding-" + userID
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: taskQueue}, contract.UserOnboardingWorkflow, ev)
	require.NoError(t, err)

	var (
		st       contract.WorkflowStatus
		queryErr error
	)
	// A query fails until a worker has run the workflow's first task.
	testenv.Eventually(t, 60*time.Second, func() bool {
		st, queryErr = queryStatus(ctx, c, wfID)
		return queryErr == nil && st.Step == contract.StepAwaitVerification
	}, "workflow %s never reported step %s; last status %+v, query error %v", wfID, contract.StepAwaitVerification, st, queryErr)
	require.Equal(t, contract.SignalEmailVerified, st.WaitingFor, "got %v, want it waiting for verification", st)
	require.Equal(t, fmt.Sprintf("Waiting for user %s to verify %s (signal email-verified)", userID, email), st.Detail)
	require.WithinDuration(t, time.Now(), st.Since, time.Minute)
	require.NotNil(t, st.Deadline)
	require.Equal(t, 72*time.Hour, st.Deadline.Sub(st.Since))
	details := serverCurrentDetails(ctx, t, c, wfID)
	require.Contains(t, details, "**await_verification** · waiting for `email-verified` since "+st.Since.Format(time.RFC3339))
	require.Contains(t, details, st.Detail)

	verifiedEv := contract.Event{ID: testenv.ID("evt-"), Type: contract.TypeEmailVerified, Source: "/test", Data: json.RawMessage(`{"user_id":"` + userID + `"}`)}
	require.NoError(t, c.SignalWorkflow(ctx, wfID, "", contract.SignalEmailVerified, verifiedEv))
	var res workflows.OnboardingResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, contract.OnboardingStatusComplete, res.Status)

	st = serverStatus(ctx, t, c, wfID)
	require.Equal(t, contract.StepDone, st.Step, "got %v", st)
	require.Equal(t, contract.OnboardingStatusComplete, st.Outcome)
	require.Equal(t, "Tenant "+res.TenantID+" is ready", st.Detail)

	h := history(ctx, t, c, wfID, run.GetRunID())
	want := []string{
		"SendEmail: verification email", "CreateTenant: tenant of " + userID,
		"SetupBilling: Stripe customer of " + res.TenantID, "Emit: onboarding.completed",
	}
	got := activitySummaries(t, h)
	require.Equal(t, want, got, "got %v, want %v", got, want)

	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: contract.UserOnboardingWorkflow})
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, h))
}

// serverStatus queries the workflow wfID for its status.
func serverStatus(ctx context.Context, t *testing.T, c client.Client, wfID string) contract.WorkflowStatus {
	t.Helper()
	st, err := queryStatus(ctx, c, wfID)
	require.NoError(t, err)
	return st
}

func queryStatus(ctx context.Context, c client.Client, wfID string) (contract.WorkflowStatus, error) {
	var st contract.WorkflowStatus
	v, err := c.QueryWorkflow(ctx, wfID, "", contract.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// serverCurrentDetails returns the current details of the workflow wfID, as the Temporal
// UI reads them (the SDK's built-in metadata query).
func serverCurrentDetails(ctx context.Context, t *testing.T, c client.Client, wfID string) string {
	t.Helper()
	v, err := c.QueryWorkflow(ctx, wfID, "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	return md.GetCurrentDetails()
}

// activitySummaries lists the activities a history scheduled, in order, as
// "Type: summary", the rows the Temporal UI shows.
func activitySummaries(t *testing.T, h *historypb.History) []string {
	t.Helper()
	var out []string
	for _, ev := range h.GetEvents() {
		if ev.GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			continue
		}
		var summary string
		if p := ev.GetUserMetadata().GetSummary(); p != nil {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &summary))
		}
		out = append(out, ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()+": "+summary)
	}
	return out
}

// stubDeploys answers BlueprintDeploy's activities, under their registered names, with a
// deploy that succeeds: what the workflow tells Temporal is under test here, not git or
// the commands (internal/activities tests those). Step hold waits for release.
type stubDeploys struct {
	hold    string
	release chan struct{}
}

func (*stubDeploys) SupersedeOlderDeploys(context.Context, activities.DeployTarget) (activities.SupersedeResult, error) {
	return activities.SupersedeResult{}, nil
}
func (*stubDeploys) EmitDeployEvent(context.Context, activities.DeployEventInput) error { return nil }
func (*stubDeploys) PrepareDeploy(context.Context, activities.DeployTarget) (activities.PreparedDeploy, error) {
	return activities.PreparedDeploy{Blueprint: testBlueprint}, nil
}
func (d *stubDeploys) RunDeployStep(ctx context.Context, in activities.DeployStepInput) (activities.StepResult, error) {
	if in.Step == d.hold {
		select {
		case <-d.release:
		case <-ctx.Done():
			return activities.StepResult{}, ctx.Err()
		}
	}
	return activities.StepResult{Step: in.Step, OK: true}, nil
}
func (*stubDeploys) CheckDeployHealth(context.Context, activities.DeployHealthInput) (activities.HealthResult, error) {
	return activities.HealthResult{Healthy: true, Probes: 1}, nil
}
func (*stubDeploys) FinishDeploy(context.Context, activities.FinishDeployInput) error { return nil }
func (*stubDeploys) CleanupDeployWorkspace(context.Context, activities.DeployTarget) error {
	return nil
}

// TestDeployActivitySummariesOnTemporal runs BlueprintDeploy on the Temporal dev server: in
// its test step, its status says so; its three RunDeployStep rows read build, test and
// deploy; and its status says how it ended.
func TestDeployActivitySummariesOnTemporal(t *testing.T) {
	c := testenv.Temporal(t)
	taskQueue := testenv.ID("test-")
	d := &workflows.Deploy{}
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
	stub := &stubDeploys{hold: contract.StepTest, release: make(chan struct{})}
	w.RegisterActivity(stub)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wfID := testenv.ID("deploy-")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: taskQueue}, contract.BlueprintDeployWorkflow, blueprintPushed(t))
	require.NoError(t, err)
	var (
		st       contract.WorkflowStatus
		queryErr error
	)
	testenv.Eventually(t, 60*time.Second, func() bool {
		st, queryErr = queryStatus(ctx, c, wfID)
		return queryErr == nil && st.Step == contract.StepTest
	}, "workflow %s never reported step %s; last status %+v, query error %v", wfID, contract.StepTest, st, queryErr)
	require.Equal(t, "RunDeployStep", st.WaitingFor, "got %v", st)
	require.Equal(t, "Running test: `make test`", st.Detail)
	close(stub.release)

	var res workflows.DeployResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.DeploySucceeded, res.Status)

	h := history(ctx, t, c, wfID, run.GetRunID())
	want := []string{
		"SupersedeOlderDeploys: supersede older deploys", "EmitDeployEvent: deploy.started", "PrepareDeploy: checkout",
		"RunDeployStep: build", "RunDeployStep: test", "RunDeployStep: deploy", "CheckDeployHealth: health",
		"FinishDeploy: record succeeded", "EmitDeployEvent: deploy.succeeded", "CleanupDeployWorkspace: remove workspace",
	}
	got := activitySummaries(t, h)
	require.Equal(t, want, got, "got %v, want %v", got, want)

	st = serverStatus(ctx, t, c, wfID)
	require.Equal(t, contract.StepDone, st.Step, "got %v", st)
	require.Equal(t, workflows.DeploySucceeded, st.Outcome)
	require.Equal(t, "Deployed "+deploySHA+" of refs/heads/main", st.Detail)

	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, h))
}
