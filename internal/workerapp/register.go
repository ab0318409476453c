package workerapp

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// Register registers every workflow and activity with r (a worker), each under an
// explicit name. deploys may be nil when the worker runs no BlueprintDeploy activities
// (tests of other workflows).
func Register(r worker.Registry, acts *activities.Activities, deploys *activities.Deploys, cfg Workflows) {
	o := &workflows.Onboarding{Config: cfg.Onboarding}
	r.RegisterWorkflowWithOptions(o.UserOnboarding, workflow.RegisterOptions{Name: contract.UserOnboardingWorkflow})
	p := &workflows.Payments{Config: cfg.Payments}
	r.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: contract.PaymentProcessingWorkflow})
	d := &workflows.Deploy{Config: cfg.Deploy}
	r.RegisterWorkflowWithOptions(d.BlueprintDeploy, workflow.RegisterOptions{Name: contract.BlueprintDeployWorkflow})
	cs := &workflows.Connectors{Config: cfg.Connectors}
	r.RegisterWorkflowWithOptions(cs.ConnectorSync, workflow.RegisterOptions{Name: contract.ConnectorSyncWorkflow})
	sw := &workflows.Scheduled{Config: cfg.Scheduled}
	r.RegisterWorkflowWithOptions(sw.DailyReport, workflow.RegisterOptions{Name: contract.DailyReportWorkflow})
	r.RegisterWorkflowWithOptions(sw.Cleanup, workflow.RegisterOptions{Name: contract.CleanupWorkflow})
	r.RegisterWorkflowWithOptions(sw.Backup, workflow.RegisterOptions{Name: contract.BackupWorkflow})
	for _, a := range activityTable(acts, deploys) {
		r.RegisterActivityWithOptions(a.fn, activity.RegisterOptions{Name: a.name})
	}
}

// RegisterPinned registers, with r (the worker of the task queue this worker alone
// polls, Deploys.TaskQueue), the deploy activities that BlueprintDeploy sends to the
// worker that checked a deploy out: they work in its workspace.
func RegisterPinned(r worker.ActivityRegistry, deploys *activities.Deploys) {
	for _, a := range pinnedActivityTable(deploys) {
		r.RegisterActivityWithOptions(a.fn, activity.RegisterOptions{Name: a.name})
	}
}

// pinnedActivityTable lists the activities of RegisterPinned, under the names of
// activityTable.
func pinnedActivityTable(deploys *activities.Deploys) []namedActivity {
	return []namedActivity{
		{"RunDeployStep", deploys.RunDeployStep},
		{"CleanupDeployWorkspace", deploys.CleanupDeployWorkspace},
	}
}

// namedActivity is one activity as the worker registers it. name is the activity type on
// the wire: the method's own name, which is what a workflow calling the method through a
// nil receiver (`var a *activities.Activities`) asks for, and what recorded histories and
// docs/CONTRACT.md name. Changing one breaks running workflows.
type namedActivity struct {
	name string
	fn   any
}

// activityTable lists the activities by domain. Registering them one by one, rather than
// the whole struct, keeps helper methods such as Activities.Validate from becoming
// activities. deploys may be nil.
func activityTable(acts *activities.Activities, deploys *activities.Deploys) []namedActivity {
	t := []namedActivity{
		// Shared: result events on behalf of any workflow.
		{"Emit", acts.Emit},
		// UserOnboarding.
		{"SendEmail", acts.SendEmail},
		{"CreateTenant", acts.CreateTenant},
		{"SetupBilling", acts.SetupBilling},
		// PaymentProcessing.
		{"FindTenantByStripeCustomer", acts.FindTenantByStripeCustomer},
		{"RecordPayment", acts.RecordPayment},
		{"SendInvoice", acts.SendInvoice},
		{"NotifyUser", acts.NotifyUser},
		// ConnectorSync.
		{"SyncConnectorPages", acts.SyncConnectorPages},
		{"CompleteConnectorSync", acts.CompleteConnectorSync},
		{"FailConnectorSync", acts.FailConnectorSync},
		// DailyReport, Cleanup, Backup.
		{"DailyReportNumbers", acts.DailyReportNumbers},
		{"EmitDailyReport", acts.EmitDailyReport},
		{"PurgeSentEmails", acts.PurgeSentEmails},
		{"PurgeNotifications", acts.PurgeNotifications},
		{"RemoveStaleWorkspaces", acts.RemoveStaleWorkspaces},
		{"BackupDatabase", acts.BackupDatabase},
		{"PruneBackups", acts.PruneBackups},
	}
	if deploys == nil {
		return t
	}
	// BlueprintDeploy.
	return append(t,
		namedActivity{"SupersedeOlderDeploys", deploys.SupersedeOlderDeploys},
		namedActivity{"DeploySupersededBy", deploys.DeploySupersededBy},
		namedActivity{"PrepareDeploy", deploys.PrepareDeploy},
		namedActivity{"RunDeployStep", deploys.RunDeployStep},
		namedActivity{"CheckDeployHealth", deploys.CheckDeployHealth},
		namedActivity{"LastGoodDeploy", deploys.LastGoodDeploy},
		namedActivity{"RollbackDeploy", deploys.RollbackDeploy},
		namedActivity{"FinishDeploy", deploys.FinishDeploy},
		namedActivity{"EmitDeployEvent", deploys.EmitDeployEvent},
		namedActivity{"CleanupDeployWorkspace", deploys.CleanupDeployWorkspace},
	)
}
