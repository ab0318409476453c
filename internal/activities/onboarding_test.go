package activities_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// onboardingDeps are real dependencies: a fresh PostgreSQL schema, mailpit, stripe-mock
// and an in-process NATS server with the EVENTS stream.
type onboardingDeps struct {
	acts    *activities.Activities
	store   *store.Store
	nats    *testenv.NATS
	mailAPI string
}

func newOnboardingDeps(t *testing.T) onboardingDeps {
	t.Helper()
	smtpAddr, api := testenv.Mailpit(t)
	stripeBase := testenv.StripeMock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := testenv.Store(t)
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(ctx, n.JS, 2*time.Minute))
	mailer, err := mail.New(smtpAddr, "flowbridge <no-reply@flowbridge.test>")
	require.NoError(t, err)
	acts := &activities.Activities{
		Store: st, Mailer: mailer, Stripe: activities.NewStripeClient("sk_test_123", stripeBase),
		Publisher: events.NewPublisher(n.JS), Log: testenv.Logger(t), AppURL: "http://app.test",
	}
	require.NoError(t, acts.Validate())
	return onboardingDeps{acts: acts, store: st, nats: n, mailAPI: api}
}

func (d onboardingDeps) activityEnv() *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(d.acts)
	return env
}

// stored returns the events stored on events.<typ>.
func (d onboardingDeps) stored(t *testing.T, typ string) []events.Event {
	t.Helper()
	ctx := context.Background()
	s, err := d.nats.JS.Stream(ctx, events.Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []events.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		if m.Subject != events.Subject(typ) {
			continue
		}
		ev, err := events.Decode(m.Header, m.Data)
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

var cause = activities.Cause{EventID: "evt-signup", CorrelationID: "corr-1"}

func TestSendEmailSendsOnceAndEmitsOnce(t *testing.T) {
	d := newOnboardingDeps(t)
	env := d.activityEnv()
	user := testenv.ID("u-")
	address := user + "@example.com"
	in := activities.EmailInput{UserID: user, Email: address, Kind: activities.EmailVerification, Cause: cause}

	for range 2 { // a retried activity
		_, err := env.ExecuteActivity(d.acts.SendEmail, in)
		require.NoError(t, err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(testenv.MailTo(t, d.mailAPI, address)) >= 1 }, "no email for %s", address)
	require.Equal(t, 1, len(testenv.MailTo(t, d.mailAPI, address)), "one email despite two attempts")

	sent := d.stored(t, "email.verification_sent")
	require.Len(t, sent, 1, "one event despite two attempts")
	require.Equal(t, "evt-signup", sent[0].Extensions()[events.ExtCausationID])
	require.Equal(t, "corr-1", sent[0].Extensions()[events.ExtCorrelationID])
	require.Equal(t, activities.Source, sent[0].Source())

	in.Kind = activities.EmailReminder
	_, err := env.ExecuteActivity(d.acts.SendEmail, in)
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(testenv.MailTo(t, d.mailAPI, address)) == 2 }, "no reminder for %s", address)
	require.Len(t, d.stored(t, "email.verification_sent"), 1, "a reminder emits nothing")
}

func TestCreateTenantAndSetupBillingAreIdempotent(t *testing.T) {
	d := newOnboardingDeps(t)
	env := d.activityEnv()
	user := testenv.ID("u-")

	var tenantIDs []string
	for range 2 {
		v, err := env.ExecuteActivity(d.acts.CreateTenant, activities.TenantInput{UserID: user, Email: user + "@example.com", Cause: cause})
		require.NoError(t, err)
		var out activities.TenantOutput
		require.NoError(t, v.Get(&out))
		tenantIDs = append(tenantIDs, out.TenantID)
	}
	require.Equal(t, tenantIDs[0], tenantIDs[1], "the same tenant both times")

	var customers []string
	for range 2 {
		v, err := env.ExecuteActivity(d.acts.SetupBilling, activities.BillingInput{TenantID: tenantIDs[0], Email: user + "@example.com", Cause: cause})
		require.NoError(t, err)
		var out activities.BillingOutput
		require.NoError(t, v.Get(&out))
		customers = append(customers, out.StripeCustomerID)
	}
	require.NotEmpty(t, customers[0])
	require.Equal(t, customers[0], customers[1])

	tenant, err := d.store.TenantByID(context.Background(), tenantIDs[0])
	require.NoError(t, err)
	require.Equal(t, customers[0], tenant.StripeCustomerID)

	require.Len(t, d.stored(t, "tenant.created"), 1)
	ready := d.stored(t, "billing.ready")
	require.Len(t, ready, 1)
	var data map[string]string
	require.NoError(t, json.Unmarshal(ready[0].Data(), &data))
	require.Equal(t, map[string]string{"tenant_id": tenantIDs[0], "stripe_customer_id": customers[0]}, data)
}

func TestSetupBillingUnknownTenant(t *testing.T) {
	d := newOnboardingDeps(t)
	_, err := d.activityEnv().ExecuteActivity(d.acts.SetupBilling, activities.BillingInput{TenantID: "00000000-0000-0000-0000-000000000000", Email: "x@example.com"})
	require.ErrorContains(t, err, "not found")
}
