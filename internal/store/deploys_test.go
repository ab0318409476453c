package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/stretchr/testify/require"
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

// claimDeploy claims the lane for d as the lane is now.
func claimDeploy(t *testing.T, st *store.Store, d store.Deploy) store.DeployClaim {
	t.Helper()
	lane, err := st.DeployLane(context.Background(), d.Repository, d.Ref, d.WorkflowID, d.RunID)
	if err != nil {
		t.Fatalf("lane of %s: %v", d.WorkflowID, err)
	}
	c, err := st.ClaimDeploy(context.Background(), d, lane)
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

func headID(lane store.DeployLane) string {
	if lane.Head == nil {
		return ""
	}
	return lane.Head.WorkflowID
}

func goodSHA(lane store.DeployLane) string {
	if lane.Good == nil {
		return ""
	}
	return lane.Good.CommitSHA
}

// TestDeployLane: the head of a lane is the deploy claimed last that nothing superseded,
// however it ended; a claim after the head moved is refused with ErrLaneMoved; a new run
// of a workflow id starts its row afresh.
func TestDeployLane(t *testing.T) {
	st := openDeployStore(t)
	ctx := context.Background()
	lane := func(d store.Deploy) store.DeployLane {
		t.Helper()
		l, err := st.DeployLane(ctx, d.Repository, d.Ref, d.WorkflowID, d.RunID)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := deployRow("a", "aaaaaaa", time.Time{}), deployRow("b", "bbbbbbb", time.Time{})
	if l := lane(a); l.Head != nil || l.Good != nil || l.Claimed {
		t.Fatalf("empty lane: got %+v", l)
	}
	claimDeploy(t, st, a)
	if l := lane(a); !l.Claimed || l.Head != nil {
		t.Fatalf("lane as a sees it after its claim: got claimed %v head %q, want claimed and no head", l.Claimed, headID(l))
	}
	if err := st.FinishDeploy(ctx, "a", store.DeployOutcome{Status: store.DeploySucceeded}); err != nil {
		t.Fatal(err)
	}
	seenByB := lane(b)
	if headID(seenByB) != "a" || goodSHA(seenByB) != "aaaaaaa" || seenByB.Claimed {
		t.Fatalf("lane as b sees it: got head %q good %q claimed %v, want head a, good aaaaaaa", headID(seenByB), goodSHA(seenByB), seenByB.Claimed)
	}

	// c claims between b's look and b's claim: b must look again.
	c := deployRow("c", "ccccccc", time.Time{})
	claimDeploy(t, st, c)
	if _, err := st.ClaimDeploy(ctx, b, seenByB); !errors.Is(err, store.ErrLaneMoved) {
		t.Fatalf("claim after the lane moved: got %v, want ErrLaneMoved", err)
	}
	if _, err := st.DeployByID(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b after a refused claim: got %v, want no row", err)
	}
	if l := lane(b); headID(l) != "c" || goodSHA(l) != "aaaaaaa" {
		t.Fatalf("lane after c: got head %q good %q, want head c, good aaaaaaa", headID(l), goodSHA(l))
	}
	// A retried claim of c is answered whatever lane it passes.
	if _, err := st.ClaimDeploy(ctx, c, store.DeployLane{}); err != nil {
		t.Fatalf("retried claim: %v", err)
	}

	// A new run of a's workflow id (Temporal forgot the first) starts a's row afresh and
	// supersedes c.
	again := a
	again.RunID = "run-a-2"
	l := lane(again)
	if headID(l) != "c" || l.Claimed {
		t.Fatalf("lane as a's second run sees it: got head %q claimed %v, want head c", headID(l), l.Claimed)
	}
	cl, err := st.ClaimDeploy(ctx, again, l)
	if err != nil || !slices.Equal(deployIDs(cl.Superseded), []string{"c"}) {
		t.Fatalf("second run of a: got %+v, %v; want c superseded", cl, err)
	}
	row, err := st.DeployByID(ctx, "a")
	if err != nil || row.RunID != "run-a-2" || row.Status != store.DeployRunning || !row.FinishedAt.IsZero() {
		t.Fatalf("a's row after its second claim = %+v, %v; want run-a-2 running", row, err)
	}
	if l := lane(b); headID(l) != "a" || l.Good != nil {
		t.Fatalf("lane after a's second run: got head %q good %q, want head a and no good deploy (a runs again)", headID(l), goodSHA(l))
	}
}

func TestRunningDeploys(t *testing.T) {
	st, _ := openStore(t)
	for _, d := range []struct{ id, status string }{{"deploy-b", "running"}, {"deploy-a", "running"}, {"deploy-c", "succeeded"}, {"deploy-d", "failed"}} {
		mustExec(t, st, `INSERT INTO deploys (workflow_id, repository, ref, commit_sha, status) VALUES ($1, 'acme/app', 'main', 'abc', $2)`, d.id, d.status)
	}
	got, err := st.RunningDeploys(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"deploy-a", "deploy-b"}, got)
}
