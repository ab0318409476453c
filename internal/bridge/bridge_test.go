package bridge_test

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/bridge"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

const (
	running   = enums.WORKFLOW_EXECUTION_STATUS_RUNNING
	completed = enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
)

// The onboarding path end to end, in both content modes: user.signedup → UserOnboarding
// with its memo → verification email in mailpit and email.verification_sent → email.verified
// signal → tenant row with a Stripe customer → onboarding.completed on the stream.
func TestOnboardingEndToEnd(t *testing.T) {
	for _, mode := range []string{"structured", "binary"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			h.startWorker(workflows.OnboardingConfig{})
			rb := h.startBridge(h.temporal, bridge.Config{})
			publish := h.publishBinary
			if mode == "structured" {
				publish = h.publishStructured
			}

			user := testenv.ID("u-")
			email := user + "@example.com"
			wfID := "onboarding-" + user
			signup := newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": email, "name": "Ada"})
			publish(signup)

			h.waitStatus(wfID, running, 10*time.Second)
			require.Equal(t, map[string]string{"ce_id": signup.ID(), "ce_type": "user.signedup", "ce_source": signup.Source()}, h.memo(wfID))

			testenv.Eventually(t, 15*time.Second, func() bool { return h.mailsTo(email) == 1 }, "verification email to %s not in mailpit", email)
			testenv.Eventually(t, 10*time.Second, func() bool {
				ev, ok := h.lastEvent("email.verification_sent")
				return ok && ev.Subject() == wfID
			}, "email.verification_sent not emitted")

			publish(newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": user}))

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var res workflows.OnboardingResult
			require.NoError(t, h.temporal.GetWorkflow(ctx, wfID, "").Get(ctx, &res))
			require.Equal(t, contract.OnboardingStatusComplete, res.Status)
			require.NotEmpty(t, res.TenantID)

			var owner, customer string
			require.NoError(t, h.store.Pool().QueryRow(ctx,
				"SELECT owner_user_id, coalesce(stripe_customer_id, '') FROM tenants WHERE id = $1", res.TenantID).Scan(&owner, &customer))
			require.Equal(t, user, owner)
			require.NotEmpty(t, customer, "Stripe customer id stored")

			done, ok := h.lastEvent("onboarding.completed")
			require.True(t, ok, "onboarding.completed on the stream")
			require.Equal(t, wfID+"/onboarding.completed", done.ID())
			require.Equal(t, wfID, done.Subject())
			require.Equal(t, signup.ID(), done.Extensions()[events.ExtCausationID])
			require.Equal(t, signup.ID(), done.Extensions()[events.ExtCorrelationID])
			var data map[string]string
			require.NoError(t, json.Unmarshal(done.Data(), &data))
			require.Equal(t, map[string]string{"user_id": user, "tenant_id": res.TenantID, "status": "complete"}, data)

			h.consumerSettled(10 * time.Second)
			require.Equal(t, 1, h.mailsTo(email), "exactly one email (no reminder)")
			require.Empty(t, h.dlq())
			require.GreaterOrEqual(t, rb.count(t, "routed"), 2.0)
		})
	}
}

// The same signup three times with one id (the stream drops the copies), and twice more
// with new ids (Temporal refuses a second start): one workflow, started by the first.
func TestDuplicateSignupsStartOneWorkflow(t *testing.T) {
	h := newHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{})
	user := testenv.ID("u-")
	data := map[string]string{"user_id": user, "email": user + "@example.com"}
	first := newEvent(t, testenv.ID("evt-"), "user.signedup", data)
	for range 3 {
		h.publishBinary(first)
	}
	h.consumerSettled(10 * time.Second)
	for range 2 {
		h.publishStructured(newEvent(t, testenv.ID("evt-"), "user.signedup", data))
	}
	h.consumerSettled(10 * time.Second)

	require.Equal(t, running, h.status("onboarding-"+user))
	require.Equal(t, first.ID(), h.memo("onboarding-" + user)["ce_id"], "the workflow was started by the first event")
	require.Equal(t, 1.0, rb.count(t, "routed"))
	require.Equal(t, 2.0, rb.count(t, "duplicate"))
	require.Empty(t, h.dlq())

	recorded := rb.recorder.byEvent(first.ID())
	require.Len(t, recorded, 1, "the stream dropped the copies before the bridge saw them")
	require.Equal(t, bridge.OutcomeRouted, recorded[0].Outcome)
	require.Equal(t, []bridge.RouteResult{{Route: "user-signedup", Action: "start", WorkflowID: "onboarding-" + user, RunID: recorded[0].Routes[0].RunID, Result: "done"}}, recorded[0].Routes)
	require.NotEmpty(t, recorded[0].Routes[0].RunID)

	s, err := h.nats.JS.Stream(context.Background(), events.Stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(3), info.State.Msgs, "one copy of the first event plus the two with new ids")
}

// Bad input goes to the DLQ with its body and headers intact and a reason; the good
// event behind it is routed.
func TestBadEventsAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	rb := h.startBridge(h.temporal, bridge.Config{})

	garbage := nats.NewMsg("events.user.signedup")
	garbage.Data = []byte("\x00\x01 not an event")
	h.publishRaw(garbage)

	noID := nats.NewMsg("events.user.signedup")
	noID.Header.Set("ce-specversion", "1.0")
	noID.Header.Set("ce-type", "user.signedup")
	noID.Header.Set("ce-source", "/tests")
	noID.Header.Set("Content-Type", "application/json")
	noID.Data = []byte(`{"user_id":"x","email":"x@example.com"}`)
	h.publishRaw(noID)

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": "no-email"}))

	wrongSubject := nats.NewMsg("events.email.verified")
	wrongSubject.Header.Set("ce-specversion", "1.0")
	wrongSubject.Header.Set("ce-id", testenv.ID("evt-"))
	wrongSubject.Header.Set("ce-type", "user.signedup")
	wrongSubject.Header.Set("ce-source", "/tests")
	wrongSubject.Data = []byte(`{"user_id":"x","email":"x@example.com"}`)
	h.publishRaw(wrongSubject)

	user := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))

	h.consumerSettled(10 * time.Second)
	require.Equal(t, running, h.status("onboarding-"+user), "the good event behind the bad ones was routed")

	dl := h.dlq()
	require.Len(t, dl, 4)
	// Lanes run in parallel, so dead letters are stored in any order: put them back in
	// stream order.
	slices.SortFunc(dl, func(a, b *jetstream.RawStreamMsg) int {
		return cmp.Compare(a.Header.Get(events.HeaderStreamSeq), b.Header.Get(events.HeaderStreamSeq))
	})
	wants := []struct {
		subject, reason string
		body            []byte
	}{
		{"dlq.events.user.signedup", "no ce-specversion header and not a structured event", garbage.Data},
		{"dlq.events.user.signedup", "id: MUST be a non-empty string", noID.Data},
		{"dlq.events.user.signedup", "/: missing property 'email'", nil},
		{"dlq.events.user.signedup", "must be published on events.user.signedup, not events.email.verified", wrongSubject.Data},
	}
	for i, want := range wants {
		require.Equal(t, want.subject, dl[i].Subject, "dead letter %d", i)
		require.Contains(t, dl[i].Header.Get(events.HeaderError), want.reason, "dead letter %d", i)
		if want.body != nil {
			require.Equal(t, want.body, dl[i].Data, "dead letter %d keeps the original body", i)
		}
		require.NotEmpty(t, dl[i].Header.Get(events.HeaderStreamSeq))
	}
	require.Equal(t, "1.0", dl[1].Header.Get("ce-specversion"), "original headers kept")
	require.Equal(t, 4.0, rb.count(t, "dead_lettered"))
	for _, o := range rb.recorder.all() {
		if o.Outcome == bridge.OutcomeDeadLettered {
			require.NotEmpty(t, o.Error, "a dead letter's outcome says why")
		}
	}
}

// email.verified that overtakes user.signedup is parked in EVENTS_WAITING (acked on
// EVENTS) until the workflow exists, then delivered: onboarding completes.
func TestSignalBeforeStartIsNotLost(t *testing.T) {
	h := newHarness(t)
	h.startWorker(workflows.OnboardingConfig{})
	rb := h.startBridge(h.temporal, bridge.Config{})
	user := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": user}))
	testenv.Eventually(t, 10*time.Second, func() bool { return rb.count(t, "waiting") >= 1 }, "the early signal was not parked")
	early := rb.recorder.all()[0]
	require.Equal(t, bridge.OutcomeWaiting, early.Outcome)
	require.Contains(t, early.Error, "does not exist yet")
	require.Equal(t, "waiting", early.Routes[0].Result)
	h.consumerSettled(10 * time.Second) // acked on EVENTS: it holds no slot there while it waits

	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	h.waitExists("onboarding-" + user)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.OnboardingResult
	require.NoError(t, h.temporal.GetWorkflow(ctx, "onboarding-"+user, "").Get(ctx, &res))
	require.Equal(t, contract.OnboardingStatusComplete, res.Status)
	require.Empty(t, h.dlq())
}

// A signal for a workflow that never appears is dead-lettered after SignalWait; one for a
// workflow that is already closed is dead-lettered at once.
func TestUndeliverableSignalsAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.startBridge(h.temporal, bridge.Config{SignalWait: time.Second})

	never := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": never}))

	closed := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": closed, "email": closed + "@example.com"}))
	h.waitStatus("onboarding-"+closed, running, 10*time.Second)
	require.NoError(t, h.temporal.TerminateWorkflow(context.Background(), "onboarding-"+closed, "", "test"))
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "email.verified", map[string]string{"user_id": closed}))

	h.consumerSettled(20 * time.Second)
	// The one that never gets a workflow waits in EVENTS_WAITING until SignalWait is up.
	testenv.Eventually(t, 20*time.Second, func() bool { return len(h.dlq()) == 2 }, "want both signals dead-lettered")
	reasons := map[string]string{}
	for _, m := range h.dlq() {
		require.Equal(t, "dlq.events.email.verified", m.Subject)
		reasons[m.Header.Get("ce-id")] = m.Header.Get(events.HeaderError)
	}
	require.Len(t, reasons, 2)
	var sawNever, sawClosed bool
	for _, r := range reasons {
		sawNever = sawNever || (strings.Contains(r, "onboarding-"+never) && strings.Contains(r, "did not exist"))
		sawClosed = sawClosed || (strings.Contains(r, "onboarding-"+closed) && strings.Contains(r, "already closed"))
	}
	require.True(t, sawNever, "reasons: %v", reasons)
	require.True(t, sawClosed, "reasons: %v", reasons)
}

// With Temporal unreachable, events are NAKed and redelivered, never dead-lettered; a
// bridge that can reach Temporal later routes them.
func TestTemporalDownLosesNothing(t *testing.T) {
	h := newHarness(t)
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer dead.Close()
	down := h.startBridge(dead, bridge.Config{CallTimeout: 500 * time.Millisecond})

	user := testenv.ID("u-")
	h.publishBinary(newEvent(t, testenv.ID("evt-"), "user.signedup", map[string]string{"user_id": user, "email": user + "@example.com"}))
	testenv.Eventually(t, 20*time.Second, func() bool { return down.count(t, "retried") >= 2 }, "event not retried while Temporal is down")
	down.stop()
	require.Empty(t, h.dlq(), "nothing dead-lettered while Temporal was down")

	up := h.startBridge(h.temporal, bridge.Config{})
	h.waitStatus("onboarding-"+user, running, 30*time.Second)
	h.consumerSettled(10 * time.Second)
	require.Equal(t, 1.0, up.count(t, "routed"))
	require.Empty(t, h.dlq())
}
