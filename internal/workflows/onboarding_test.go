package workflows_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

var a *activities.Activities

func signedUp(t *testing.T) contract.Event {
	t.Helper()
	data, err := json.Marshal(contract.UserSignedUp{UserID: "u1", Email: "ada@example.com", Name: "Ada"})
	require.NoError(t, err)
	return contract.Event{ID: "evt-1", Type: "user.signedup", Source: "/test", CorrelationID: "evt-1", Data: data}
}

func verified(id string) contract.Event {
	return contract.Event{ID: id, Type: "email.verified", Source: "/test", Data: json.RawMessage(`{"user_id":"u1"}`)}
}

// onboardingEnv registers UserOnboarding with short timings and records the activities
// it calls.
type onboardingEnv struct {
	*testsuite.TestWorkflowEnvironment
	emails  []string // kinds of SendEmail calls
	emitted []string // types passed to Emit
	tenants int
	billing int
}

func newOnboardingEnv(t *testing.T) *onboardingEnv {
	var s testsuite.WorkflowTestSuite
	e := &onboardingEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	o := &workflows.Onboarding{Config: workflows.OnboardingConfig{ReminderAfter: 24 * time.Hour, ExpireAfter: 72 * time.Hour}}
	e.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: contract.UserOnboardingWorkflow})
	e.OnActivity(a.SendEmail, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EmailInput) error {
		require.Equal(t, "evt-1", in.Cause.EventID)
		e.emails = append(e.emails, in.Kind)
		return nil
	})
	e.OnActivity(a.Emit, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EmitInput) error {
		e.emitted = append(e.emitted, in.Type)
		return nil
	})
	e.OnActivity(a.CreateTenant, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TenantInput) (activities.TenantOutput, error) {
		require.Equal(t, "u1", in.UserID)
		e.tenants++
		return activities.TenantOutput{TenantID: "t-1"}, nil
	})
	e.OnActivity(a.SetupBilling, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BillingInput) (activities.BillingOutput, error) {
		require.Equal(t, "t-1", in.TenantID)
		e.billing++
		return activities.BillingOutput{StripeCustomerID: "cus_1"}, nil
	})
	return e
}

func (e *onboardingEnv) signalAt(d time.Duration, ev contract.Event) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(contract.SignalEmailVerified, ev) }, d)
}

func (e *onboardingEnv) result(t *testing.T) workflows.OnboardingResult {
	t.Helper()
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.OnboardingResult
	require.NoError(t, e.GetWorkflowResult(&res))
	return res
}

func TestOnboarding(t *testing.T) {
	tests := []struct {
		name        string
		signals     map[time.Duration]contract.Event
		wantResult  workflows.OnboardingResult
		wantEmails  []string
		wantEmitted []string
	}{
		{
			name:        "verified within a day: no reminder",
			signals:     map[time.Duration]contract.Event{time.Hour: verified("v1")},
			wantResult:  workflows.OnboardingResult{TenantID: "t-1", Status: "complete"},
			wantEmails:  []string{activities.EmailVerification},
			wantEmitted: []string{"onboarding.completed"},
		},
		{
			name:        "verified after the reminder",
			signals:     map[time.Duration]contract.Event{30 * time.Hour: verified("v1")},
			wantResult:  workflows.OnboardingResult{TenantID: "t-1", Status: "complete"},
			wantEmails:  []string{activities.EmailVerification, activities.EmailReminder},
			wantEmitted: []string{"onboarding.completed"},
		},
		{
			name:        "never verified: reminder, then expiry",
			wantResult:  workflows.OnboardingResult{Status: "expired"},
			wantEmails:  []string{activities.EmailVerification, activities.EmailReminder},
			wantEmitted: []string{"onboarding.expired"},
		},
		{
			name:        "verified after expiry is too late",
			signals:     map[time.Duration]contract.Event{73 * time.Hour: verified("v1")},
			wantResult:  workflows.OnboardingResult{Status: "expired"},
			wantEmails:  []string{activities.EmailVerification, activities.EmailReminder},
			wantEmitted: []string{"onboarding.expired"},
		},
		{
			name:        "signal before the workflow waits for it",
			signals:     map[time.Duration]contract.Event{0: verified("v1")},
			wantResult:  workflows.OnboardingResult{TenantID: "t-1", Status: "complete"},
			wantEmails:  []string{activities.EmailVerification},
			wantEmitted: []string{"onboarding.completed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOnboardingEnv(t)
			for at, ev := range tt.signals {
				e.signalAt(at, ev)
			}
			e.ExecuteWorkflow(contract.UserOnboardingWorkflow, signedUp(t))
			require.Equal(t, tt.wantResult, e.result(t))
			require.Equal(t, tt.wantEmails, e.emails)
			require.Equal(t, tt.wantEmitted, e.emitted)
			wantTenants := 0
			if tt.wantResult.Status == "complete" {
				wantTenants = 1
			}
			require.Equal(t, wantTenants, e.tenants, "CreateTenant calls")
			require.Equal(t, wantTenants, e.billing, "SetupBilling calls")
		})
	}
}

// A signal repeated with the same event id (the bridge crashed after Temporal took it
// but before the stream took the ack) does not run onboarding's steps twice.
func TestOnboardingDuplicateSignal(t *testing.T) {
	e := newOnboardingEnv(t)
	e.signalAt(time.Minute, verified("v1"))
	e.signalAt(time.Minute, verified("v1"))
	e.ExecuteWorkflow(contract.UserOnboardingWorkflow, signedUp(t))
	require.Equal(t, workflows.OnboardingResult{TenantID: "t-1", Status: "complete"}, e.result(t))
	require.Equal(t, 1, e.tenants)
	require.Equal(t, 1, e.billing)
}

// inboxWorkflow collects the distinct signals that arrive within an hour.
func inboxWorkflow(ctx workflow.Context) ([]string, error) {
	inbox := workflows.NewSignalInbox(ctx, "s")
	var got []string
	done := false
	timer := workflow.NewTimer(ctx, time.Hour)
	for !done {
		sel := workflow.NewSelector(ctx)
		inbox.AddTo(ctx, sel, func(ev contract.Event) { got = append(got, ev.ID) })
		sel.AddFuture(timer, func(workflow.Future) { done = true })
		sel.Select(ctx)
	}
	return got, nil
}

func TestSignalInboxDropsRepeatedEventIDs(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.RegisterWorkflow(inboxWorkflow)
	for i, id := range []string{"a", "a", "b", "a", "c", "b"} {
		e.RegisterDelayedCallback(func() { e.SignalWorkflow("s", contract.Event{ID: id}) }, time.Duration(i+1)*time.Minute)
	}
	e.ExecuteWorkflow(inboxWorkflow)
	require.NoError(t, e.GetWorkflowError())
	var got []string
	require.NoError(t, e.GetWorkflowResult(&got))
	require.Equal(t, []string{"a", "b", "c"}, got)
}

func TestOnboardingRejectsBadInput(t *testing.T) {
	e := newOnboardingEnv(t)
	e.ExecuteWorkflow(contract.UserOnboardingWorkflow, contract.Event{ID: "bad", Data: json.RawMessage(`{"user_id":""}`)})
	require.True(t, e.IsWorkflowCompleted())
	err := e.GetWorkflowError()
	require.ErrorContains(t, err, "data must carry user_id and email")
	require.Empty(t, e.emails)
}

// envStatus asks a test environment's workflow for its status.
func envStatus(t *testing.T, e *testsuite.TestWorkflowEnvironment) contract.WorkflowStatus {
	t.Helper()
	v, err := e.QueryWorkflow(contract.QueryStatus)
	require.NoError(t, err)
	var st contract.WorkflowStatus
	require.NoError(t, v.Get(&st))
	return st
}

// envCurrentDetails returns what the Temporal UI shows as the workflow's current details.
func envCurrentDetails(t *testing.T, e *testsuite.TestWorkflowEnvironment) string {
	t.Helper()
	v, err := e.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	return md.GetCurrentDetails()
}

func TestOnboardingStatus(t *testing.T) {
	e := newOnboardingEnv(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e.SetStartTime(start)
	var waiting, reminded contract.WorkflowStatus
	var waitingDetails string
	e.RegisterDelayedCallback(func() {
		waiting, waitingDetails = envStatus(t, e.TestWorkflowEnvironment), envCurrentDetails(t, e.TestWorkflowEnvironment)
	}, time.Hour)
	e.RegisterDelayedCallback(func() { reminded = envStatus(t, e.TestWorkflowEnvironment) }, 25*time.Hour)
	e.signalAt(30*time.Hour, verified("v1"))
	e.ExecuteWorkflow(contract.UserOnboardingWorkflow, signedUp(t))
	e.result(t)

	deadline := start.Add(72 * time.Hour)
	want := contract.WorkflowStatus{
		Step: contract.StepAwaitVerification, WaitingFor: contract.SignalEmailVerified, Since: start, Deadline: &deadline,
		Detail: "Waiting for user u1 to verify ada@example.com (signal email-verified)",
	}
	require.Equal(t, want, waiting, "got %v, want %v", waiting, want)
	require.Contains(t, waitingDetails, "**await_verification** · waiting for `email-verified` since 2026-03-02T09:00:00Z · until 2026-03-05T09:00:00Z")
	require.Equal(t, want.Since, reminded.Since, "the reminder keeps the step")
	require.Equal(t, want.Detail+"; reminder sent 2026-03-03T09:00:00Z", reminded.Detail)

	done := envStatus(t, e.TestWorkflowEnvironment)
	want = contract.WorkflowStatus{Step: contract.StepDone, Since: start.Add(30 * time.Hour), Detail: "Tenant t-1 is ready", Outcome: contract.OnboardingStatusComplete}
	require.Equal(t, want, done, "got %v, want %v", done, want)
	require.Contains(t, envCurrentDetails(t, e.TestWorkflowEnvironment), "**done**: complete since 2026-03-03T15:00:00Z")
}
