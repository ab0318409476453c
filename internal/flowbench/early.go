package flowbench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/nats-io/nats.go/jetstream"
)

// earlyResult is the early-signals measure: n email.verified published before their
// user.signedup (a bulk import, a DLQ replay), which must all reach their workflows.
type earlyResult struct {
	n         int
	parkedIn  time.Duration // from the first email.verified published to the last parked
	routedIn  time.Duration // from the first user.signedup published to the last signal delivered
	startRate float64       // user.signedup routed per second meanwhile (the wakes ride along)
	delivered int64         // workflows whose history holds exactly their own signal, once
	deadLet   float64       // dead letters of either type
}

// verified is the email.verified event for user, the signal to onboarding-<user>.
func verified(user string) (events.Event, error) {
	return benchEvent("evt-v-"+user, "email.verified", map[string]string{"user_id": user})
}

// earlySignals publishes n email.verified for users nobody has signed up yet, waits until
// the bridge parked them all (outside the ack-pending window), then publishes the n
// signups, waits until every signal was delivered, and reads each workflow's history:
// exactly one email-verified signal, carrying its own event.
func earlySignals(ctx context.Context, cfg Config, res *Results, tc client.Client, js jetstream.JetStream, b *bridgeProc, run string, say func(string, ...any)) error {
	n := cfg.EarlySignals
	r := &res.Early
	r.n = n
	prefix := "early-" + run + "-"
	v0, err := b.metricsOf(ctx, "email.verified")
	if err != nil {
		return err
	}
	s0, err := b.metrics(ctx)
	if err != nil {
		return err
	}
	say("==> %d email.verified before their user.signedup (signals for workflows that do not exist yet)", n)
	begin := time.Now()
	if err := publishEach(ctx, js, prefix, n, verified, say); err != nil {
		return err
	}
	if err := waitCount(ctx, b, "email.verified", "waiting", v0["waiting"], n, cfg.DrainTimeout, "parked", say); err != nil {
		return err
	}
	r.parkedIn = time.Since(begin)
	say("  %d parked in EVENTS_WAITING in %.1fs", n, r.parkedIn.Seconds())

	say("==> their %d user.signedup; each start wakes its parked signal", n)
	begin = time.Now()
	if err := publishEach(ctx, js, prefix, n, signup, say); err != nil {
		return err
	}
	if err := waitCount(ctx, b, "email.verified", "routed", v0["routed"], n, cfg.DrainTimeout, "signals delivered", say); err != nil {
		return err
	}
	r.routedIn = time.Since(begin)
	s1, err := b.metrics(ctx)
	if err != nil {
		return err
	}
	v1, err := b.metricsOf(ctx, "email.verified")
	if err != nil {
		return err
	}
	r.startRate = float64(settled(s1)-settled(s0)) / r.routedIn.Seconds()
	r.deadLet = v1["dead_lettered"] - v0["dead_lettered"] + s1["dead_lettered"] - s0["dead_lettered"]
	say("  %d signals delivered in %.1fs after the signups began; signups routed at %.0f/s meanwhile", n, r.routedIn.Seconds(), r.startRate)

	say("==> reading the %d workflows' histories", n)
	r.delivered, err = countSignalled(ctx, tc, prefix, n, say)
	return err
}

// waitCount waits until the bridge counted want more events of typ with outcome than base.
func waitCount(ctx context.Context, b *bridgeProc, typ, outcome string, base float64, want int, timeout time.Duration, what string, say func(string, ...any)) error {
	deadline := time.Now().Add(timeout)
	begin, lastSay := time.Now(), time.Now()
	for {
		m, err := b.metricsOf(ctx, typ)
		if err == nil {
			got := int(m[outcome] - base)
			if got >= want {
				return nil
			}
			if m["dead_lettered"] > 0 {
				return fmt.Errorf("the bridge dead-lettered %v %s events (log: %s)", m["dead_lettered"], typ, b.logPath)
			}
			if time.Since(lastSay) >= 5*time.Second {
				say("  %d of %d %s in %.0fs", got, want, what, time.Since(begin).Seconds())
				lastSay = time.Now()
			}
		}
		if b.exited() {
			return fmt.Errorf("the bridge exited: %v (log: %s)", b.err, b.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not %d within %v (log: %s)", what, want, timeout, b.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second): // a scrape a second: the bridge's CPU is not measured here
		}
	}
}

// countSignalled reads the history of onboarding-<prefix><i> for each i < n, 16 at a
// time, and counts the workflows that took exactly one email-verified signal, whose
// argument is the envelope of their own email.verified event.
func countSignalled(ctx context.Context, tc client.Client, prefix string, n int, say func(string, ...any)) (int64, error) {
	var ok, done atomic.Int64
	var firstBad atomic.Value
	idx := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				user := fmt.Sprintf("%s%d", prefix, i)
				if err := oneSignal(ctx, tc, "onboarding-"+user, "evt-v-"+user); err != nil {
					firstBad.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	stop := ticker(5*time.Second, func() { say("  %d of %d histories read", done.Load(), n) })
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	stop()
	if bad := firstBad.Load(); bad != nil {
		say("  %d of %d workflows did not take their signal exactly once; first: %s", int64(n)-ok.Load(), n, bad)
	}
	return ok.Load(), ctx.Err()
}

// oneSignal checks that workflow id took the signal email-verified exactly once, with the
// envelope of the event eventID.
func oneSignal(ctx context.Context, tc client.Client, id, eventID string) error {
	it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var got []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil || a.GetSignalName() != "email-verified" {
			continue
		}
		got = append(got, envelopeID(a.GetInput()))
	}
	if len(got) != 1 || got[0] != eventID {
		return fmt.Errorf("%s took signals from events %q, want [%s]", id, got, eventID)
	}
	return nil
}

// envelopeID is the "id" of the event envelope in a signal's first payload (JSON).
func envelopeID(p *commonpb.Payloads) string {
	if len(p.GetPayloads()) == 0 {
		return ""
	}
	var env struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(p.GetPayloads()[0].GetData(), &env)
	return env.ID
}
