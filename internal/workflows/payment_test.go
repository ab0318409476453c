package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/activities"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/mail"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
	"github.com/flowbridge/flowbridge/internal/workflows"
)

// paymentEvents are the result events of a processed payment, in order.
var paymentEvents = []string{"payment.recorded", "invoice.sent", "payment.processed"}

// paymentDeps are real activities on a PostgreSQL schema of the test's own and mailpit,
// publishing to pub.
type paymentDeps struct {
	acts    *activities.Activities
	store   *store.Store
	mailAPI string
}

func newPaymentDeps(t *testing.T, pub activities.Publisher) *paymentDeps {
	t.Helper()
	smtpAddr, apiAddr := testenv.Mailpit(t)
	st := testenv.Store(t)
	mailer, err := mail.New(mail.Config{Addr: smtpAddr, From: "flowbridge <no-reply@flowbridge.test>", TLS: mail.TLSNone})
	require.NoError(t, err)
	acts := &activities.Activities{Store: st, Mailer: mailer, Publisher: pub, Log: testenv.Logger(t)}
	return &paymentDeps{acts: acts, store: st, mailAPI: apiAddr}
}

// createTenant creates a tenant whose Stripe customer is customerID, as onboarding does.
func (d *paymentDeps) createTenant(t *testing.T, customerID string) store.Tenant {
	t.Helper()
	ctx := context.Background()
	tn, err := d.store.EnsureTenant(ctx, testenv.ID("u-"), testenv.ID("owner-")+"@example.com")
	require.NoError(t, err)
	_, err = d.store.SetStripeCustomer(ctx, tn.ID, customerID)
	require.NoError(t, err)
	tn.StripeCustomerID = customerID
	return tn
}

func (d *paymentDeps) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, d.store.Pool().QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// requireProcessed checks what a processed payment leaves behind: one payment row, one
// notification, and one invoice in mailpit to invoiceTo with the amount and line items.
func (d *paymentDeps) requireProcessed(t *testing.T, in contract.StripePaid, tenant store.Tenant, invoiceTo string) {
	t.Helper()
	p, err := d.store.PaymentByID(context.Background(), in.PaymentID)
	require.NoError(t, err)
	require.Equal(t, tenant.ID, p.TenantID)
	require.Equal(t, in.Amount, p.Amount)
	require.Equal(t, 1, d.count(t, "SELECT count(*) FROM payments"))
	require.Equal(t, 1, d.count(t, "SELECT count(*) FROM notifications WHERE tenant_id = $1", tenant.ID))

	var ids []string
	testenv.Eventually(t, 10*time.Second, func() bool { ids = testenv.MailTo(t, d.mailAPI, invoiceTo); return len(ids) > 0 }, "no invoice to %s in mailpit", invoiceTo)
	require.Len(t, ids, 1, "invoices to %s", invoiceTo)
	body := testenv.MailText(t, d.mailAPI, ids[0])
	require.Contains(t, body, activities.FormatAmount(in.Amount, in.Currency))
	for _, li := range in.LineItems {
		require.Contains(t, body, li.Description)
		require.Contains(t, body, activities.FormatAmount(li.Amount, in.Currency))
	}
}

func newPaid(customerID, email string) contract.StripePaid {
	return contract.StripePaid{
		PaymentID: testenv.ID("pi_"), CustomerID: customerID, Amount: 4900, Currency: "eur", Email: email,
		LineItems: []contract.LineItem{{Description: "Seat", Amount: 4000, Quantity: 2}, {Description: "Support", Amount: 900, Quantity: 1}},
	}
}

func paidEvent(t *testing.T, in contract.StripePaid) contract.Event {
	t.Helper()
	data, err := json.Marshal(in)
	require.NoError(t, err)
	return contract.Event{ID: testenv.ID("evt-"), Type: "stripe.paid", Source: "/test", Data: data}
}

// requireResultEvents checks evs are the payment's result events, in order, with
// deterministic ids under workflowID and caused by ev.
func requireResultEvents(t *testing.T, evs []events.Event, workflowID string, ev contract.Event) {
	t.Helper()
	got := make([]string, len(evs))
	for i, e := range evs {
		got[i] = e.Type()
	}
	require.Equal(t, paymentEvents, got, "got %v, want %v", got, paymentEvents)
	for _, e := range evs {
		require.Equal(t, contract.ResultEventID(workflowID, e.Type()), e.ID())
		require.Equal(t, workflowID, e.Subject())
		require.Equal(t, ev.ID, e.Extensions()[events.ExtCausationID])
		require.Equal(t, ev.ID, e.Extensions()[events.ExtCorrelationID], "a chain without a correlation id starts at the event")
	}
}

// errorLog is a Temporal logger that keeps what is logged at error level.
type errorLog struct {
	t      *testing.T
	mu     sync.Mutex
	errors []string
}

func (l *errorLog) line(level, msg string, kv []any) string {
	s := level + " " + msg + fmt.Sprint(kv...)
	l.t.Log(s)
	return s
}
func (l *errorLog) Debug(msg string, kv ...any) {}
func (l *errorLog) Info(msg string, kv ...any)  { l.line("INFO", msg, kv) }
func (l *errorLog) Warn(msg string, kv ...any)  { l.line("WARN", msg, kv) }
func (l *errorLog) Error(msg string, kv ...any) {
	s := l.line("ERROR", msg, kv)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, s)
}

// TestPaymentProcessing runs the workflow in the test environment with the real
// activities: PostgreSQL, mailpit and a recording publisher.
func TestPaymentProcessing(t *testing.T) {
	tests := []struct {
		name         string
		eventEmail   bool          // the stripe.paid event carries an email
		tenantAfter  time.Duration // the tenant is created this long after the start; 0: before
		wantInvoiceT string        // "event" or "owner"
	}{
		{name: "known customer", eventEmail: true, wantInvoiceT: "event"},
		{name: "no email in the event: the owner gets the invoice", wantInvoiceT: "owner"},
		{name: "tenant appears five hours later", eventEmail: true, tenantAfter: 5 * time.Hour, wantInvoiceT: "event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &testenv.Events{}
			deps := newPaymentDeps(t, pub)
			customer := testenv.ID("cus_")
			var tenant store.Tenant
			if tt.tenantAfter == 0 {
				tenant = deps.createTenant(t, customer)
			}
			email := ""
			if tt.eventEmail {
				email = testenv.ID("payer-") + "@example.com"
			}
			in := newPaid(customer, email)
			ev := paidEvent(t, in)
			wfID := "payment-" + in.PaymentID

			var s testsuite.WorkflowTestSuite
			e := s.NewTestWorkflowEnvironment()
			e.SetTestTimeout(30 * time.Second)
			start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			e.SetStartTime(start)
			e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID})
			p := &workflows.Payments{}
			e.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: contract.PaymentProcessingWorkflow})
			e.RegisterActivity(deps.acts)
			var recordedAt time.Time
			e.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == "RecordPayment" {
					recordedAt = e.Now()
				}
			})
			var waiting contract.WorkflowStatus
			if tt.tenantAfter > 0 {
				e.RegisterDelayedCallback(func() {
					waiting = envStatus(t, e)
					tenant = deps.createTenant(t, customer)
				}, tt.tenantAfter)
			}

			e.ExecuteWorkflow(contract.PaymentProcessingWorkflow, ev)

			require.True(t, e.IsWorkflowCompleted())
			require.NoError(t, e.GetWorkflowError())
			var res workflows.PaymentResult
			require.NoError(t, e.GetWorkflowResult(&res))
			invoiceTo := email
			if tt.wantInvoiceT == "owner" {
				invoiceTo = tenant.OwnerEmail
			}
			require.NotEmpty(t, res.NotificationID)
			want := workflows.PaymentResult{PaymentID: in.PaymentID, TenantID: tenant.ID, InvoiceTo: invoiceTo, NotificationID: res.NotificationID}
			require.Equal(t, want, res, "got %v, want %v", res, want)
			requireResultEvents(t, pub.Published(), wfID, ev)
			deps.requireProcessed(t, in, tenant, invoiceTo)

			// The payment proceeds within a poll interval of its tenant appearing.
			waited := recordedAt.Sub(start)
			require.GreaterOrEqual(t, waited, tt.tenantAfter)
			require.LessOrEqual(t, waited, tt.tenantAfter+time.Minute, "got the payment recorded %v after the start, want within a minute of %v", waited, tt.tenantAfter)

			if tt.tenantAfter > 0 {
				deadline := start.Add(24 * time.Hour)
				wantWaiting := contract.WorkflowStatus{
					Step: contract.StepFindTenant, WaitingFor: "FindTenantByStripeCustomer", Since: start, Deadline: &deadline,
					Detail: "Looking up the tenant of Stripe customer " + customer + "; a payment before onboarding has created it waits for it",
				}
				require.Equal(t, wantWaiting, waiting, "got %v, want %v", waiting, wantWaiting)
			}
			done := envStatus(t, e)
			wantDone := contract.WorkflowStatus{
				Step: contract.StepDone, Since: recordedAt.UTC(), Outcome: contract.PaymentStatusProcessed,
				Detail: fmt.Sprintf("Payment %s recorded for tenant %s, invoice sent to %s", in.PaymentID, tenant.ID, invoiceTo),
			}
			require.Equal(t, wantDone, done, "got %v, want %v", done, wantDone)
		})
	}
}

// paymentMockEnv runs PaymentProcessing with every activity mocked; lookups answers
// FindTenantByStripeCustomer.
type paymentMockEnv struct {
	*testsuite.TestWorkflowEnvironment
	log     *errorLog
	lookups int
	calls   []string // other activities called
}

func newPaymentMockEnv(t *testing.T, cfg workflows.PaymentConfig, lookup func() (activities.CustomerTenant, error)) *paymentMockEnv {
	var s testsuite.WorkflowTestSuite
	l := &errorLog{t: t}
	s.SetLogger(l)
	e := &paymentMockEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), log: l}
	p := &workflows.Payments{Config: cfg}
	e.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: contract.PaymentProcessingWorkflow})
	e.OnActivity(a.FindTenantByStripeCustomer, mock.Anything, mock.Anything).Return(func(context.Context, activities.CustomerInput) (activities.CustomerTenant, error) {
		e.lookups++
		return lookup()
	})
	e.OnActivity(a.RecordPayment, mock.Anything, mock.Anything).Return(func(context.Context, activities.PaymentInput) error {
		e.calls = append(e.calls, "RecordPayment")
		return nil
	})
	e.OnActivity(a.SendInvoice, mock.Anything, mock.Anything).Return(func(context.Context, activities.InvoiceInput) error {
		e.calls = append(e.calls, "SendInvoice")
		return nil
	})
	e.OnActivity(a.NotifyUser, mock.Anything, mock.Anything).Return(func(context.Context, activities.NotifyInput) (activities.NotifyOutput, error) {
		e.calls = append(e.calls, "NotifyUser")
		return activities.NotifyOutput{NotificationID: "n-1"}, nil
	})
	return e
}

// notFound answers a lookup as FindTenantByStripeCustomer does while there is no tenant.
func notFound() (activities.CustomerTenant, error) {
	return activities.CustomerTenant{}, temporal.NewApplicationErrorWithOptions("no tenant has Stripe customer cus_gone yet",
		contract.ErrorTypeTenantNotFound, temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
}

// requireAppError checks the workflow failed with a non-retryable application error of
// type typ whose message holds every string in msg.
func requireAppError(t *testing.T, err error, typ string, msg ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v, want an application error", err)
	require.Equal(t, typ, appErr.Type(), "error type")
	require.True(t, appErr.NonRetryable(), "got a retryable error, want a non-retryable one")
	for _, m := range msg {
		require.Contains(t, appErr.Error(), m)
	}
}

func TestPaymentProcessingGivesUpOnUnknownCustomer(t *testing.T) {
	tests := []struct {
		name     string
		cfg      workflows.PaymentConfig
		wantWait time.Duration
	}{
		{name: "default wait", wantWait: 24 * time.Hour},
		{name: "configured wait", cfg: workflows.PaymentConfig{TenantWait: 2 * time.Hour}, wantWait: 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPaymentMockEnv(t, tt.cfg, notFound)
			start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			e.SetStartTime(start)
			in := newPaid("cus_gone", "payer@example.com")

			e.ExecuteWorkflow(contract.PaymentProcessingWorkflow, paidEvent(t, in))

			require.True(t, e.IsWorkflowCompleted())
			requireAppError(t, e.GetWorkflowError(), contract.ErrorTypeUnknownCustomer,
				"payment "+in.PaymentID, "no tenant has Stripe customer cus_gone", "tenant wait "+tt.wantWait.String())
			waited := e.Now().Sub(start)
			require.True(t, waited > tt.wantWait-time.Minute && waited <= tt.wantWait, "got failure after %v, want within a minute before %v", waited, tt.wantWait)
			require.Greater(t, e.lookups, int(tt.wantWait/time.Minute)-1, "lookups: about one a minute")
			require.Empty(t, e.calls, "nothing is recorded, sent or notified")
			require.Len(t, e.log.errors, 1, "error-level log lines")
			require.Contains(t, e.log.errors[0], "cus_gone")
		})
	}
}

// A lookup that keeps failing for another reason (PostgreSQL down all along) is not
// reported as an unknown customer.
func TestPaymentProcessingLookupFailure(t *testing.T) {
	e := newPaymentMockEnv(t, workflows.PaymentConfig{TenantWait: time.Hour}, func() (activities.CustomerTenant, error) {
		return activities.CustomerTenant{}, errors.New("connect to PostgreSQL: connection refused")
	})
	in := newPaid("cus_1", "")
	e.ExecuteWorkflow(contract.PaymentProcessingWorkflow, paidEvent(t, in))
	require.True(t, e.IsWorkflowCompleted())
	err := e.GetWorkflowError()
	require.ErrorContains(t, err, "find the tenant of Stripe customer cus_1")
	require.ErrorContains(t, err, "connection refused")
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.NotEqual(t, contract.ErrorTypeUnknownCustomer, appErr.Type())
	}
	require.Empty(t, e.calls)
}

func TestPaymentProcessingRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{name: "not JSON", data: `"paid"`},
		{name: "no data", data: ``},
		{name: "no payment_id", data: `{"customer_id":"cus_1","amount":100,"currency":"eur"}`},
		{name: "no customer_id", data: `{"payment_id":"pi_1","amount":100,"currency":"eur"}`},
		{name: "negative amount", data: `{"payment_id":"pi_1","customer_id":"cus_1","amount":-1,"currency":"eur"}`},
		{name: "fractional amount", data: `{"payment_id":"pi_1","customer_id":"cus_1","amount":1.5,"currency":"eur"}`},
		{name: "no currency", data: `{"payment_id":"pi_1","customer_id":"cus_1","amount":100}`},
		{name: "currency not a code", data: `{"payment_id":"pi_1","customer_id":"cus_1","amount":100,"currency":"euro"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPaymentMockEnv(t, workflows.PaymentConfig{}, notFound)
			e.ExecuteWorkflow(contract.PaymentProcessingWorkflow, contract.Event{ID: "bad-1", Type: "stripe.paid", Data: json.RawMessage(tt.data)})
			require.True(t, e.IsWorkflowCompleted())
			requireAppError(t, e.GetWorkflowError(), contract.ErrorTypeInvalidInput, "event bad-1", "payment_id, customer_id")
			require.Zero(t, e.lookups)
			require.Empty(t, e.calls)
		})
	}
}

func TestPaymentProcessingStepsInOrder(t *testing.T) {
	tenant := activities.CustomerTenant{TenantID: "t-1", OwnerUserID: "u-1", OwnerEmail: "owner@example.com"}
	e := newPaymentMockEnv(t, workflows.PaymentConfig{}, func() (activities.CustomerTenant, error) { return tenant, nil })
	in := newPaid("cus_1", "")
	e.ExecuteWorkflow(contract.PaymentProcessingWorkflow, paidEvent(t, in))
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	var res workflows.PaymentResult
	require.NoError(t, e.GetWorkflowResult(&res))
	want := workflows.PaymentResult{PaymentID: in.PaymentID, TenantID: "t-1", InvoiceTo: "owner@example.com", NotificationID: "n-1"}
	require.Equal(t, want, res, "got %v, want %v", res, want)
	require.Equal(t, []string{"RecordPayment", "SendInvoice", "NotifyUser"}, e.calls)
	require.Equal(t, 1, e.lookups)
	require.Empty(t, e.log.errors)
}

// TestPaymentProcessingOnTemporal runs PaymentProcessing on the Temporal dev server with
// a worker of the test's own and the real activities, then replays its history.
func TestPaymentProcessingOnTemporal(t *testing.T) {
	tests := []struct {
		name string
		// tenant: "before" the start, "later" (once the workflow is seen waiting), or "never"
		tenant string
	}{
		{name: "known customer", tenant: "before"},
		{name: "tenant appears while waiting", tenant: "later"},
		{name: "tenant never appears", tenant: "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testenv.Temporal(t)
			pub := &testenv.Events{}
			deps := newPaymentDeps(t, pub)
			customer := testenv.ID("cus_")
			var tenant store.Tenant
			if tt.tenant == "before" {
				tenant = deps.createTenant(t, customer)
			}
			in := newPaid(customer, testenv.ID("payer-")+"@example.com")
			ev := paidEvent(t, in)
			wfID := "payment-" + in.PaymentID

			taskQueue := testenv.ID("test-")
			p := &workflows.Payments{Config: workflows.PaymentConfig{TenantWait: 4 * time.Second}}
			w := worker.New(c, taskQueue, worker.Options{})
			w.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: contract.PaymentProcessingWorkflow})
			w.RegisterActivity(deps.acts)
			require.NoError(t, w.Start())
			t.Cleanup(w.Stop)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: taskQueue}, contract.PaymentProcessingWorkflow, ev)
			require.NoError(t, err)
			if tt.tenant == "later" {
				testenv.Eventually(t, 10*time.Second, func() bool { return lookupAttempts(ctx, c, wfID) >= 2 }, "workflow %s never retried the tenant lookup", wfID)
				st := serverStatus(ctx, t, c, wfID)
				require.Equal(t, contract.StepFindTenant, st.Step, "got %v", st)
				require.Equal(t, "FindTenantByStripeCustomer", st.WaitingFor)
				require.NotNil(t, st.Deadline)
				require.Equal(t, 4*time.Second, st.Deadline.Sub(st.Since))
				tenant = deps.createTenant(t, customer)
			}

			var res workflows.PaymentResult
			err = run.Get(ctx, &res)
			if tt.tenant == "never" {
				requireAppError(t, err, contract.ErrorTypeUnknownCustomer, "no tenant has Stripe customer "+customer, "tenant wait 4s")
				require.Empty(t, pub.Published())
				require.Zero(t, deps.count(t, "SELECT count(*) FROM payments"))
			} else {
				require.NoError(t, err)
				want := workflows.PaymentResult{PaymentID: in.PaymentID, TenantID: tenant.ID, InvoiceTo: in.Email, NotificationID: res.NotificationID}
				require.Equal(t, want, res, "got %v, want %v", res, want)
				requireResultEvents(t, pub.Published(), wfID, ev)
				deps.requireProcessed(t, in, tenant, in.Email)
			}

			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(p.PaymentProcessing, workflow.RegisterOptions{Name: contract.PaymentProcessingWorkflow})
			require.NoError(t, replayer.ReplayWorkflowHistory(nil, history(ctx, t, c, wfID, run.GetRunID())))
		})
	}
}

// lookupAttempts returns the attempt of the workflow's pending tenant lookup, 0 if none.
func lookupAttempts(ctx context.Context, c client.Client, wfID string) int32 {
	d, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		return 0
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() == "FindTenantByStripeCustomer" {
			return pa.GetAttempt()
		}
	}
	return 0
}

func history(ctx context.Context, t *testing.T, c client.Client, wfID, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}
