package contract

// BlueprintPushed is the data of blueprint.pushed: a push to a branch of a repository.
type BlueprintPushed struct {
	Repository string `json:"repository"`
	CloneURL   string `json:"clone_url"`
	Ref        string `json:"ref"`
	CommitSHA  string `json:"commit_sha"`
	Pusher     string `json:"pusher,omitempty"`
	Message    string `json:"message,omitempty"`
}

// DeployEvent is the data of deploy.started, deploy.succeeded and deploy.failed; each
// type fills its own fields and leaves the others empty.
type DeployEvent struct {
	Repository string `json:"repository"`
	CommitSHA  string `json:"commit_sha"`
	Ref        string `json:"ref"`
	Pusher     string `json:"pusher,omitempty"`     // deploy.started
	Message    string `json:"message,omitempty"`    // deploy.started
	HealthURL  string `json:"health_url,omitempty"` // deploy.succeeded
	// Step, Reason and OutputTail say where and why a deploy failed (deploy.failed).
	Step         string `json:"step,omitempty"`
	Reason       string `json:"reason,omitempty"`
	OutputTail   string `json:"output_tail,omitempty"` // the step's last lines of output
	RolledBackTo string `json:"rolled_back_to,omitempty"`
	SupersededBy string `json:"superseded_by,omitempty"`
}

// Steps of BlueprintDeploy, as deploy.failed names them.
const (
	StepQueued   = "queued" // superseded by a newer push before it began
	StepCheckout = "checkout"
	StepBuild    = "build"
	StepTest     = "test"
	StepDeploy   = "deploy"
	StepHealth   = "health"
	StepRollback = "rollback"
)
