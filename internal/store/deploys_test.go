package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func openDeployStore(t *testing.T) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

func deployRow(id, sha string, pushedAt time.Time) store.Deploy {
	return store.Deploy{WorkflowID: id, RunID: "run-" + id, Repository: "acme/site", Ref: "refs/heads/main", CommitSHA: sha, PushedAt: pushedAt}
}

func deployIDs(ds []store.Deploy) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.WorkflowID)
	}
	return out
}

func claimDeploy(t *testing.T, st *store.Store, d store.Deploy) store.DeployClaim {
	t.Helper()
	c, err := st.ClaimDeploy(context.Background(), d)
	if err != nil {
		t.Fatalf("claim %s: %v", d.WorkflowID, err)
	}
	return c
}

func TestClaimDeploySupersedesOlderPushes(t *testing.T) {
	st := openDeployStore(t)
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

	if c := claimDeploy(t, st, deployRow("d1", "aaa1111", t0)); c.Newer != nil || len(c.Superseded) != 0 {
		t.Fatalf("first claim: got %+v, want an empty lane", c)
	}
	c := claimDeploy(t, st, deployRow("d2", "bbb2222", t0.Add(time.Minute)))
	if c.Newer != nil || !slices.Equal(deployIDs(c.Superseded), []string{"d1"}) {
		t.Fatalf("second claim: got newer %v superseded %v, want superseded [d1]", c.Newer, deployIDs(c.Superseded))
	}
	// A retried claim answers the same while d1 still runs.
	c = claimDeploy(t, st, deployRow("d2", "bbb2222", t0.Add(time.Minute)))
	if c.Newer != nil || !slices.Equal(deployIDs(c.Superseded), []string{"d1"}) {
		t.Fatalf("repeated claim: got newer %v superseded %v, want superseded [d1]", c.Newer, deployIDs(c.Superseded))
	}
	by, err := st.DeploySupersededBy(ctx, "d1")
	if err != nil || by.CommitSHA != "bbb2222" {
		t.Fatalf("DeploySupersededBy(d1) = %+v, %v; want bbb2222", by, err)
	}
	if _, err := st.DeploySupersededBy(ctx, "d2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeploySupersededBy(d2): got %v, want ErrNotFound", err)
	}
	if err := st.FinishDeploy(ctx, "d1", store.DeployOutcome{Status: store.DeployCancelled, Step: "build", Reason: "superseded by bbb2222"}); err != nil {
		t.Fatal(err)
	}
	if c := claimDeploy(t, st, deployRow("d2", "bbb2222", t0.Add(time.Minute))); len(c.Superseded) != 0 {
		t.Fatalf("claim after d1 finished: got superseded %v, want none", deployIDs(c.Superseded))
	}

	// A push older than the one in flight (delivered late) does not cancel it: it is
	// superseded itself.
	c = claimDeploy(t, st, deployRow("d0", "0000000", t0.Add(30*time.Second)))
	if c.Newer == nil || c.Newer.WorkflowID != "d2" || len(c.Superseded) != 0 {
		t.Fatalf("late older push: got newer %v superseded %v, want newer d2", c.Newer, deployIDs(c.Superseded))
	}
	if c := claimDeploy(t, st, deployRow("d0", "0000000", t0.Add(30*time.Second))); c.Newer == nil || c.Newer.WorkflowID != "d2" {
		t.Fatalf("repeated late claim: got %+v, want newer d2", c)
	}
	got, err := st.DeployByID(ctx, "d2")
	if err != nil || got.SupersededBy != "" || got.Status != store.DeployRunning {
		t.Fatalf("d2 = %+v, %v; want running and not superseded", got, err)
	}

	// Another ref is another lane; a push without a time is ordered by its claim.
	other := deployRow("o1", "ccc3333", time.Time{})
	other.Ref = "refs/heads/dev"
	if c := claimDeploy(t, st, other); c.Newer != nil || len(c.Superseded) != 0 {
		t.Fatalf("other ref: got %+v, want an empty lane", c)
	}
	c = claimDeploy(t, st, deployRow("d3", "ddd4444", time.Time{}))
	if c.Newer != nil || !slices.Equal(deployIDs(c.Superseded), []string{"d2"}) {
		t.Fatalf("untimed push: got newer %v superseded %v, want superseded [d2]", c.Newer, deployIDs(c.Superseded))
	}
}

func TestFinishDeployAndLastGood(t *testing.T) {
	st := openDeployStore(t)
	ctx := context.Background()
	if _, err := st.LastGoodDeploy(ctx, "acme/site", "refs/heads/main"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LastGoodDeploy on an empty lane: got %v, want ErrNotFound", err)
	}
	steps := []struct {
		id, sha string
		outcome store.DeployOutcome
	}{
		{"g1", "1111111", store.DeployOutcome{Status: store.DeploySucceeded}},
		{"g2", "2222222", store.DeployOutcome{Status: store.DeploySucceeded}},
		{"f3", "3333333", store.DeployOutcome{Status: store.DeployFailed, Step: "health", Reason: "unhealthy", RolledBackTo: "2222222"}},
	}
	for _, s := range steps {
		claimDeploy(t, st, deployRow(s.id, s.sha, time.Time{}))
		if err := st.FinishDeploy(ctx, s.id, s.outcome); err != nil {
			t.Fatal(err)
		}
	}
	good, err := st.LastGoodDeploy(ctx, "acme/site", "refs/heads/main")
	if err != nil || good.CommitSHA != "2222222" {
		t.Fatalf("LastGoodDeploy = %+v, %v; want 2222222", good, err)
	}
	// Finishing twice keeps the first outcome.
	if err := st.FinishDeploy(ctx, "f3", store.DeployOutcome{Status: store.DeploySucceeded}); err != nil {
		t.Fatal(err)
	}
	f3, err := st.DeployByID(ctx, "f3")
	if err != nil {
		t.Fatal(err)
	}
	if f3.Status != store.DeployFailed || f3.Step != "health" || f3.RolledBackTo != "2222222" || f3.FinishedAt.IsZero() {
		t.Fatalf("f3 = %+v; want failed in health, rolled back to 2222222", f3)
	}
	if err := st.FinishDeploy(ctx, "never-claimed", store.DeployOutcome{Status: store.DeployFailed}); err != nil {
		t.Fatalf("finishing an unknown deploy: got %v, want nil", err)
	}
	if err := st.FinishDeploy(ctx, "g1", store.DeployOutcome{Status: "running"}); err == nil {
		t.Fatal("finishing with status running: got nil, want an error")
	}
}
