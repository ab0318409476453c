package workerapp

import (
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
)

// recordingRegistry records what Register registers. Registering by any other method
// than the *WithOptions ones (a whole struct through RegisterActivity, say) calls the nil
// embedded Registry and panics, failing the test.
type recordingRegistry struct {
	worker.Registry
	workflows  []string
	activities map[string]any
}

func (r *recordingRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}

func (r *recordingRegistry) RegisterActivityWithOptions(fn any, o activity.RegisterOptions) {
	if _, dup := r.activities[o.Name]; dup {
		panic("activity " + o.Name + " registered twice")
	}
	r.activities[o.Name] = fn
}

// The activity types on the wire today: recorded histories (internal/workflows/testdata)
// and running workflows name them, so this set only grows on purpose.
var wantActivities = []string{
	"Emit",
	"SendEmail", "CreateTenant", "SetupBilling",
	"FindTenantByStripeCustomer", "RecordPayment", "SendInvoice", "NotifyUser",
	"SyncConnectorPages", "CompleteConnectorSync", "FailConnectorSync",
	"DailyReportNumbers", "EmitDailyReport", "PurgeSentEmails", "PurgeNotifications",
	"RemoveStaleWorkspaces", "BackupDatabase", "PruneBackups",
}

var wantDeployActivities = []string{
	"SupersedeOlderDeploys", "DeploySupersededBy", "PrepareDeploy", "RunDeployStep",
	"CheckDeployHealth", "LastGoodDeploy", "RollbackDeploy", "FinishDeploy",
	"EmitDeployEvent", "CleanupDeployWorkspace",
}

func TestRegisterNamesEveryActivityExplicitly(t *testing.T) {
	tests := []struct {
		name    string
		deploys *activities.Deploys
		want    []string
	}{
		{name: "with deploys", deploys: &activities.Deploys{}, want: slices.Concat(wantActivities, wantDeployActivities)},
		{name: "without deploys", deploys: nil, want: wantActivities},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recordingRegistry{activities: map[string]any{}}
			Register(r, &activities.Activities{}, tt.deploys, Workflows{})

			got := slices.Sorted(maps.Keys(r.activities))
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("registered activities:\ngot  %v\nwant %v", got, want)
			}
			// A workflow calls an activity through a nil receiver (a.SendEmail), and the SDK
			// names that call after the method: each registered name must be its method's.
			for name, fn := range r.activities {
				if got := methodName(fn); got != name {
					t.Errorf("activity %q: method name got %v, want %v", name, got, name)
				}
			}

			wantWorkflows := []string{
				contract.UserOnboardingWorkflow, contract.PaymentProcessingWorkflow, contract.BlueprintDeployWorkflow,
				contract.ConnectorSyncWorkflow, contract.DailyReportWorkflow, contract.CleanupWorkflow, contract.BackupWorkflow,
			}
			if !slices.Equal(r.workflows, wantWorkflows) {
				t.Errorf("registered workflows: got %v, want %v", r.workflows, wantWorkflows)
			}
		})
	}
}

// The worker's own task queue carries the deploy activities that work in a checkout,
// under the names the shared queue gives them: BlueprintDeploy calls them by the same
// method through a nil receiver, only with another task queue.
func TestRegisterPinnedNamesTheCheckoutActivities(t *testing.T) {
	r := &recordingRegistry{activities: map[string]any{}}
	RegisterPinned(r, &activities.Deploys{})
	got := slices.Sorted(maps.Keys(r.activities))
	want := []string{"CleanupDeployWorkspace", "RunDeployStep"}
	if !slices.Equal(got, want) {
		t.Fatalf("pinned activities: got %v, want %v", got, want)
	}
	for name, fn := range r.activities {
		if got := methodName(fn); got != name {
			t.Errorf("activity %q: method name got %v, want %v", name, got, name)
		}
	}
	if len(r.workflows) != 0 {
		t.Errorf("pinned workflows: got %v, want none", r.workflows)
	}
}

// methodName is the name the SDK gives a method value: its function name after the
// receiver, without the "-fm" suffix of a method value.
func methodName(fn any) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	full = strings.TrimSuffix(full, "-fm")
	return full[strings.LastIndex(full, ".")+1:]
}
