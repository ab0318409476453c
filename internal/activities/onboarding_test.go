package activities_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
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
	mailer, err := mail.New(mail.Config{Addr: smtpAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
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
	require.Equal(t, contract.SourceWorker, sent[0].Source())

	in.Kind = activities.EmailReminder
	_, err := env.ExecuteActivity(d.acts.SendEmail, in)
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(testenv.MailTo(t, d.mailAPI, address)) == 2 }, "no reminder for %s", address)
	require.Len(t, d.stored(t, "email.verification_sent"), 1, "a reminder emits nothing")
}

// Through a mail server that requires STARTTLS and AUTH (mailpit with a certificate from
// a CA of the test's own, and a password file): the onboarding email arrives, once
// despite a retry; a wrong password fails the activity for good, saying what to check,
// and nothing is recorded as sent.
func TestSendEmailThroughSTARTTLSAndAuth(t *testing.T) {
	d := newOnboardingDeps(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: testenv.MailpitSTARTTLS, Users: map[string]string{"flowbridge": "s3cret-pw"}})
	mailer := func(password string) *mail.Mailer {
		m, err := mail.New(mail.Config{Addr: mp.SMTPAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSStartTLS, CAFile: mp.CAFile,
			Username: "flowbridge", Password: password})
		require.NoError(t, err)
		return m
	}

	d.acts.Mailer = mailer("s3cret-pw")
	env := d.activityEnv()
	user := testenv.ID("u-")
	address := user + "@example.com"
	in := activities.EmailInput{UserID: user, Email: address, Name: "Ada", Kind: activities.EmailVerification, Cause: cause}
	for range 2 { // a retried activity
		_, err := env.ExecuteActivity(d.acts.SendEmail, in)
		require.NoError(t, err)
	}
	var ids []string
	testenv.Eventually(t, 10*time.Second, func() bool { ids = testenv.MailTo(t, mp.APIAddr, address); return len(ids) >= 1 }, "no email for %s", address)
	require.Len(t, ids, 1, "one email despite two attempts")
	subject, text := testenv.MailMessage(t, mp.APIAddr, ids[0])
	require.Equal(t, "Verify your email", subject)
	require.Contains(t, text, "Hello Ada,")
	require.Contains(t, text, "http://app.test/verify?user_id="+user)

	// A fresh database: the activity environment's workflow id, and so the email's key,
	// is the same in every test environment.
	d = newOnboardingDeps(t)
	d.acts.Mailer = mailer("wrong-pw")
	env = d.activityEnv()
	other := testenv.ID("u-")
	in = activities.EmailInput{UserID: other, Email: other + "@example.com", Kind: activities.EmailVerification, Cause: cause}
	_, err := env.ExecuteActivity(d.acts.SendEmail, in)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.True(t, appErr.NonRetryable(), "a wrong password is not retried: %v", err)
	require.Equal(t, contract.ErrorTypeSMTPAuthFailed, appErr.Type())
	require.ErrorContains(t, err, "send verification email to "+other+"@example.com")
	require.ErrorContains(t, err, "the SMTP server refused the credentials")
	require.ErrorContains(t, err, "check SMTP_USERNAME and SMTP_PASSWORD")
	require.NotContains(t, err.Error(), "wrong-pw")
	require.Empty(t, testenv.MailTo(t, mp.APIAddr, other+"@example.com"))
	for _, ev := range d.stored(t, "email.verification_sent") {
		require.NotContains(t, string(ev.Data()), other, "no email.verification_sent for an email not sent")
	}
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
