package activities_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/flowbridge/flowbridge/schemas"
)

// paymentFixture is one test's activities: its own PostgreSQL schema, mailpit, and a
// recording publisher.
type paymentFixture struct {
	acts    *activities.Activities
	store   *store.Store
	pub     *testenv.Events
	mailAPI string
	env     *testsuite.TestActivityEnvironment
	tenant  store.Tenant
	cause   activities.Cause
}

func newPaymentFixture(t *testing.T) *paymentFixture {
	t.Helper()
	smtpAddr, apiAddr := testenv.Mailpit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := testenv.Store(t)
	mailer, err := mail.New(mail.Config{Addr: smtpAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
	require.NoError(t, err)
	f := &paymentFixture{store: st, pub: &testenv.Events{}, mailAPI: apiAddr}
	f.acts = &activities.Activities{Store: st, Mailer: mailer, Publisher: f.pub, Log: testenv.Logger(t)}
	var s testsuite.WorkflowTestSuite
	f.env = s.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)

	customer := testenv.ID("cus_")
	f.tenant, err = st.EnsureTenant(ctx, testenv.ID("u-"), testenv.ID("owner-")+"@example.com")
	require.NoError(t, err)
	_, err = st.SetStripeCustomer(ctx, f.tenant.ID, customer)
	require.NoError(t, err)
	f.tenant.StripeCustomerID = customer
	f.cause = activities.Cause{EventID: testenv.ID("evt-"), CorrelationID: "corr-1"}
	return f
}

func (f *paymentFixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.store.Pool().QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// requireEmitted checks that every published event is a result event of type typ with
// the same deterministic id (so the stream keeps one), caused by f.cause, whose data
// is want and passes the type's schema.
func (f *paymentFixture) requireEmitted(t *testing.T, typ string, n int, want any) {
	t.Helper()
	sch, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	evs := f.pub.Published()
	require.Len(t, evs, n, "published events")
	wantData, err := json.Marshal(want)
	require.NoError(t, err)
	for _, ev := range evs {
		require.Equal(t, typ, ev.Type())
		require.Equal(t, contract.SourceWorker, ev.Source())
		require.NotEmpty(t, ev.Subject(), "subject: the workflow id")
		require.Equal(t, contract.ResultEventID(ev.Subject(), typ), ev.ID())
		require.Equal(t, evs[0].ID(), ev.ID(), "a retried activity must emit the same id")
		require.Equal(t, f.cause.EventID, ev.Extensions()[events.ExtCausationID])
		require.Equal(t, f.cause.CorrelationID, ev.Extensions()[events.ExtCorrelationID])
		require.JSONEq(t, string(wantData), string(ev.Data()))
		require.NoError(t, sch.Validate(ev), "emitted %s data breaks schemas/%s.json", typ, typ)
	}
}

func TestFindTenantByStripeCustomer(t *testing.T) {
	f := newPaymentFixture(t)

	_, err := f.env.ExecuteActivity(f.acts.FindTenantByStripeCustomer, activities.CustomerInput{CustomerID: "cus_unknown"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v, want an application error", err)
	require.Equal(t, contract.ErrorTypeTenantNotFound, appErr.Type())
	require.False(t, appErr.NonRetryable(), "TenantNotFound must be retryable: the retries are the wait")
	require.Equal(t, temporal.ApplicationErrorCategoryBenign, appErr.Category(), "waiting attempts must not log as errors")
	require.ErrorContains(t, err, "cus_unknown")

	v, err := f.env.ExecuteActivity(f.acts.FindTenantByStripeCustomer, activities.CustomerInput{CustomerID: f.tenant.StripeCustomerID})
	require.NoError(t, err)
	var got activities.CustomerTenant
	require.NoError(t, v.Get(&got))
	want := activities.CustomerTenant{TenantID: f.tenant.ID, OwnerUserID: f.tenant.OwnerUserID, OwnerEmail: f.tenant.OwnerEmail}
	require.Equal(t, want, got, "got %v, want %v", got, want)
	require.Empty(t, f.pub.Published(), "a lookup emits nothing")
}

func TestRecordPaymentIsIdempotent(t *testing.T) {
	f := newPaymentFixture(t)
	in := activities.PaymentInput{
		PaymentID: testenv.ID("pi_"), TenantID: f.tenant.ID, CustomerID: f.tenant.StripeCustomerID,
		Amount: 4900, Currency: "eur", Cause: f.cause,
		LineItems: []contract.LineItem{{Description: "Seat", Amount: 4000, Quantity: 2}, {Description: "Support", Amount: 900, Quantity: 1}},
	}
	for range 2 {
		_, err := f.env.ExecuteActivity(f.acts.RecordPayment, in)
		require.NoError(t, err)
	}

	require.Equal(t, 1, f.count(t, "SELECT count(*) FROM payments WHERE payment_id = $1", in.PaymentID))
	p, err := f.store.PaymentByID(context.Background(), in.PaymentID)
	require.NoError(t, err)
	require.Equal(t, []contract.LineItem{{Description: "Seat", Amount: 4000, Quantity: 2}, {Description: "Support", Amount: 900, Quantity: 1}}, p.LineItems)
	require.Equal(t, f.cause.EventID, p.EventID)
	f.requireEmitted(t, "payment.recorded", 2, contract.PaymentRecorded{
		PaymentID: in.PaymentID, TenantID: f.tenant.ID, CustomerID: in.CustomerID, Amount: 4900, Currency: "eur",
	})
}

func TestSendInvoiceIsIdempotent(t *testing.T) {
	f := newPaymentFixture(t)
	to := testenv.ID("payer-") + "@example.com"
	in := activities.InvoiceInput{
		PaymentID: testenv.ID("pi_"), TenantID: f.tenant.ID, Email: to, Amount: 4900, Currency: "eur", Cause: f.cause,
		LineItems: []contract.LineItem{{Description: "Seat", Amount: 4000, Quantity: 2}, {Description: "Priority support", Amount: 900, Quantity: 1}},
	}
	for range 2 {
		_, err := f.env.ExecuteActivity(f.acts.SendInvoice, in)
		require.NoError(t, err)
	}

	require.Equal(t, 1, f.count(t, "SELECT count(*) FROM sent_emails WHERE recipient = $1", to))
	var msgs []string
	testenv.Eventually(t, 10*time.Second, func() bool { msgs = testenv.MailTo(t, f.mailAPI, to); return len(msgs) > 0 }, "no invoice to %s in mailpit", to)
	require.Len(t, msgs, 1, "invoice emails to %s in mailpit", to)
	body := testenv.MailText(t, f.mailAPI, msgs[0])
	for _, want := range []string{"49.00 EUR", "2 × Seat", "40.00 EUR", "1 × Priority support", "9.00 EUR", in.PaymentID} {
		require.Contains(t, body, want, "invoice body")
	}
	f.requireEmitted(t, "invoice.sent", 2, contract.InvoiceSent{
		PaymentID: in.PaymentID, TenantID: f.tenant.ID, Email: to, Amount: 4900, Currency: "eur",
	})
}

func TestSendInvoiceWithoutRecipient(t *testing.T) {
	f := newPaymentFixture(t)
	_, err := f.env.ExecuteActivity(f.acts.SendInvoice, activities.InvoiceInput{PaymentID: "pi_1", TenantID: f.tenant.ID, Amount: 1, Currency: "usd", Cause: f.cause})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v, want an application error", err)
	require.True(t, appErr.NonRetryable(), "got a retryable error, want a non-retryable one")
	require.ErrorContains(t, err, "invoice of payment pi_1: no recipient")
	require.Empty(t, f.pub.Published())
}

func TestNotifyUserIsIdempotent(t *testing.T) {
	f := newPaymentFixture(t)
	in := activities.NotifyInput{PaymentID: testenv.ID("pi_"), TenantID: f.tenant.ID, Amount: 500, Currency: "jpy", Cause: f.cause}
	var ids []string
	for range 2 {
		v, err := f.env.ExecuteActivity(f.acts.NotifyUser, in)
		require.NoError(t, err)
		var out activities.NotifyOutput
		require.NoError(t, v.Get(&out))
		ids = append(ids, out.NotificationID)
	}

	require.Equal(t, ids[0], ids[1], "both runs report the one notification")
	require.Equal(t, 1, f.count(t, "SELECT count(*) FROM notifications WHERE tenant_id = $1", f.tenant.ID))
	var kind, title, body string
	require.NoError(t, f.store.Pool().QueryRow(context.Background(),
		"SELECT kind, title, body FROM notifications WHERE id = $1", ids[0]).Scan(&kind, &title, &body))
	require.Equal(t, activities.NotificationPaymentReceived, kind)
	require.Contains(t, title, "500 JPY")
	require.Contains(t, body, in.PaymentID)
	f.requireEmitted(t, "payment.processed", 2, contract.PaymentProcessed{PaymentID: in.PaymentID, TenantID: f.tenant.ID, NotificationID: ids[0]})
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		name     string
		minor    int64
		currency string
		want     string
	}{
		{name: "two decimals", minor: 4900, currency: "eur", want: "49.00 EUR"},
		{name: "cents", minor: 4999, currency: "usd", want: "49.99 USD"},
		{name: "under one unit", minor: 5, currency: "usd", want: "0.05 USD"},
		{name: "zero", minor: 0, currency: "gbp", want: "0.00 GBP"},
		{name: "zero-decimal yen", minor: 500, currency: "jpy", want: "500 JPY"},
		{name: "zero-decimal won", minor: 12000, currency: "krw", want: "12000 KRW"},
		{name: "three decimals", minor: 1234, currency: "kwd", want: "1.234 KWD"},
		{name: "three decimals under one unit", minor: 7, currency: "bhd", want: "0.007 BHD"},
		{name: "negative (a discount line)", minor: -250, currency: "eur", want: "-2.50 EUR"},
		{name: "upper-case code in", minor: 100, currency: "JPY", want: "100 JPY"},
		{name: "unknown currency: two decimals", minor: 123456, currency: "xyz", want: "1234.56 XYZ"},
		{name: "largest amount", minor: 9223372036854775807, currency: "usd", want: "92233720368547758.07 USD"},
		{name: "smallest amount", minor: -9223372036854775808, currency: "usd", want: "-92233720368547758.08 USD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := activities.FormatAmount(tt.minor, tt.currency)
			require.Equal(t, tt.want, got, "got %v, want %v", got, tt.want)
		})
	}
}
