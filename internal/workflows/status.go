package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// progress is what a workflow tells the Temporal UI about itself: the answer to its
// status query (contract.QueryStatus) and, in one line, its current details. Neither adds
// to the history, so keeping them up to date is safe for replay.
type progress struct {
	st contract.WorkflowStatus
}

// newProgress registers the status query on ctx, which answers the latest set.
func newProgress(ctx workflow.Context) (*progress, error) {
	p := &progress{}
	err := workflow.SetQueryHandlerWithOptions(ctx, contract.QueryStatus, func() (contract.WorkflowStatus, error) {
		return p.st, nil
	}, workflow.QueryHandlerOptions{Description: "Current step, what it waits on and since when (docs/CONTRACT.md, Temporal)"})
	if err != nil {
		return nil, fmt.Errorf("register query %s: %w", contract.QueryStatus, err)
	}
	return p, nil
}

// set begins step, waiting on waitingFor (a signal or activity name), and clears the
// deadline; detail is its one line for people.
func (p *progress) set(ctx workflow.Context, step, waitingFor, detail string) {
	p.st.Step, p.st.WaitingFor, p.st.Detail, p.st.Deadline = step, waitingFor, detail, nil
	p.st.Since = workflow.Now(ctx).UTC()
	p.publish(ctx)
}

// until gives the current step a deadline.
func (p *progress) until(ctx workflow.Context, deadline time.Time) {
	d := deadline.UTC()
	p.st.Deadline = &d
	p.publish(ctx)
}

// note replaces the current step's detail, keeping its step and since.
func (p *progress) note(ctx workflow.Context, detail string) {
	p.st.Detail = detail
	p.publish(ctx)
}

// done ends the status with the workflow's outcome.
func (p *progress) done(ctx workflow.Context, outcome, detail string) {
	p.set(ctx, contract.StepDone, "", detail)
	p.st.Outcome = outcome
	p.publish(ctx)
}

// publish sets the workflow's current details, which the UI shows as markdown.
func (p *progress) publish(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, p.details())
}

// details renders the status as the UI's current details: "**step** · waiting for
// `X` since T · until D" and the detail line below.
func (p *progress) details() string {
	var b strings.Builder
	b.WriteString("**" + p.st.Step + "**")
	if p.st.Outcome != "" {
		b.WriteString(": " + p.st.Outcome)
	}
	if p.st.WaitingFor != "" {
		b.WriteString(" · waiting for `" + p.st.WaitingFor + "`")
	}
	b.WriteString(" since " + p.st.Since.Format(time.RFC3339))
	if p.st.Deadline != nil {
		b.WriteString(" · until " + p.st.Deadline.Format(time.RFC3339))
	}
	if p.st.Detail != "" {
		b.WriteString("\n\n" + p.st.Detail)
	}
	return b.String()
}

// withSummary returns ctx whose activities show summary in the UI's event history and
// pending activities, so rows of one activity type tell apart (build / test / deploy).
// The summary is metadata of the schedule command: replay does not compare it.
func withSummary(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

// Activity names, as the worker registers them (by method name), for WaitingFor.
const (
	activitySendEmail    = "SendEmail"
	activityEmit         = "Emit"
	activityCreateTenant = "CreateTenant"
	activitySetupBilling = "SetupBilling"

	activityFindTenant    = "FindTenantByStripeCustomer"
	activityRecordPayment = "RecordPayment"
	activitySendInvoice   = "SendInvoice"
	activityNotifyUser    = "NotifyUser"

	activitySyncPages    = "SyncConnectorPages"
	activityCompleteSync = "CompleteConnectorSync"

	activitySupersede       = "SupersedeOlderDeploys"
	activityPrepareDeploy   = "PrepareDeploy"
	activityRunDeployStep   = "RunDeployStep"
	activityCheckHealth     = "CheckDeployHealth"
	activityLastGoodDeploy  = "LastGoodDeploy"
	activityRollbackDeploy  = "RollbackDeploy"
	activityFinishDeploy    = "FinishDeploy"
	activityEmitDeployEvent = "EmitDeployEvent"
)
