package admin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/admin"
	"github.com/flowbridge/flowbridge/internal/store"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

var eventsT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// bridgeEvents runs `bridge args...` with DATABASE_URL set to url.
func bridgeEvents(t *testing.T, url string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	err = admin.Run(ctx, admin.IO{Stdout: &o, Stderr: &e, Getenv: getenv}, args)
	t.Logf("bridge %s\n%s%s(err: %v)", strings.Join(args, " "), o.String(), e.String(), err)
	return o.String(), e.String(), err
}

// seedLedger records a signup retried once then routed, the chain of events it caused,
// a dead-lettered payment and a push no route's filter matched.
func seedLedger(t *testing.T) string {
	t.Helper()
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, url)
	require.NoError(t, err)
	defer st.Close()
	at := func(s int) time.Time { return eventsT0.Add(time.Duration(s) * time.Second) }
	signup := store.LedgerRecord{
		EventID: "e1", EventType: "user.signedup", Source: "/signup", Subject: "events.user.signedup",
		StreamSeq: 7, ReceivedAt: eventsT0,
	}
	retried, routed := signup, signup
	retried.Delivered, retried.SettledAt, retried.Outcome = 1, at(1), "retried"
	retried.Error = "start UserOnboarding onboarding-u1: unavailable"
	retried.Routes = []store.LedgerRoute{{Route: "user-onboarding", Action: "start", WorkflowID: "onboarding-u1", Result: "retry"}}
	routed.Delivered, routed.SettledAt, routed.Outcome = 2, at(2), "routed"
	routed.Routes = []store.LedgerRoute{{Route: "user-onboarding", Action: "start", WorkflowID: "onboarding-u1", RunID: "run-1", Result: "done"}}
	result := func(id, typ, cause string, s int) store.LedgerRecord {
		return store.LedgerRecord{
			EventID: id, EventType: typ, Source: "/flowbridge/worker", Subject: "events." + typ,
			CorrelationID: "e1", CausationID: cause, StreamSeq: uint64(10 + s), Delivered: 1,
			ReceivedAt: at(s), SettledAt: at(s), Outcome: "ignored",
		}
	}
	paid := store.LedgerRecord{
		EventID: "e2", EventType: "stripe.paid", Source: "/stripe", Subject: "events.stripe.paid",
		StreamSeq: 20, Delivered: 1, ReceivedAt: at(10), SettledAt: at(10), Outcome: "dead_lettered",
		Error: "data: missing property amount",
	}
	push := store.LedgerRecord{
		EventID: "e3", EventType: "blueprint.pushed", Source: "/github", Subject: "events.blueprint.pushed",
		StreamSeq: 19, Delivered: 1, ReceivedAt: at(8), SettledAt: at(8), Outcome: "ignored",
		Unmatched: []store.LedgerMiss{{Route: "deploy-main", Reason: `ref == "refs/heads/main" is false`}},
	}
	require.NoError(t, st.Ledger().Upsert(ctx, []store.LedgerRecord{
		retried, routed,
		result("onboarding-u1/tenant.created", "tenant.created", "e1", 3),
		result("onboarding-u1/email.verification_sent", "email.verification_sent", "e1", 4),
		result("billing-t/billing.ready", "billing.ready", "onboarding-u1/tenant.created", 5),
		result("report-b/report.daily", "report.daily", "billing-t/billing.ready", 6),
		paid, push,
	}))
	return url
}

func TestEventsShow(t *testing.T) {
	url := seedLedger(t)
	tests := []struct {
		name string
		id   string
		want string
	}{
		{
			name: "an event, its deliveries and what it caused",
			id:   "e1",
			want: `e1  user.signedup  routed, retried 1 time
   received 2026-03-01 12:00:00.000 UTC from /signup on events.user.signedup
   route user-onboarding: start onboarding-u1 (run run-1): done
   last error: start UserOnboarding onboarding-u1: unavailable
   delivery 1 (stream seq 7) retried at 2026-03-01 12:00:01.000: start UserOnboarding onboarding-u1: unavailable
   delivery 2 (stream seq 7) routed at 2026-03-01 12:00:02.000
├─ onboarding-u1/tenant.created  tenant.created  ignored
│  └─ billing-t/billing.ready  billing.ready  ignored
│     └─ report-b/report.daily  report.daily  ignored
└─ onboarding-u1/email.verification_sent  email.verification_sent  ignored
`,
		},
		{
			name: "a result event in the middle of the chain",
			id:   "billing-t/billing.ready",
			want: `billing-t/billing.ready  billing.ready  ignored
   received 2026-03-01 12:00:05.000 UTC from /flowbridge/worker on events.billing.ready
   caused by onboarding-u1/tenant.created
   correlation e1
   no route takes events of type billing.ready
   delivery 1 (stream seq 15) ignored at 2026-03-01 12:00:05.000
└─ report-b/report.daily  report.daily  ignored
`,
		},
		{
			name: "a dead letter",
			id:   "e2",
			want: `e2  stripe.paid  dead-lettered
   received 2026-03-01 12:00:10.000 UTC from /stripe on events.stripe.paid
   error: data: missing property amount
   delivery 1 (stream seq 20) dead-lettered at 2026-03-01 12:00:10.000: data: missing property amount
`,
		},
		{
			name: "ignored by a route's filter",
			id:   "e3",
			want: `e3  blueprint.pushed  ignored
   received 2026-03-01 12:00:08.000 UTC from /github on events.blueprint.pushed
   route deploy-main did not match: ref == "refs/heads/main" is false
   delivery 1 (stream seq 19) ignored at 2026-03-01 12:00:08.000
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := bridgeEvents(t, url, "events", "show", tt.id)
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}

	out, _, err := bridgeEvents(t, url, "events", "show", "--json", "e1")
	require.NoError(t, err)
	require.Contains(t, out, `"run_id": "run-1"`)
	require.Contains(t, out, `"id": "report-b/report.daily"`)
}

func TestEventsList(t *testing.T) {
	url := seedLedger(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "by type",
			args: []string{"--type", "user.signedup"},
			want: `RECEIVED (UTC)           ID  TYPE           OUTCOME                 WORKFLOW
2026-03-01 12:00:00.000  e1  user.signedup  routed, retried 1 time  onboarding-u1
`,
		},
		{
			name: "by outcome, as people write it",
			args: []string{"--outcome", "dead-lettered"},
			want: `RECEIVED (UTC)           ID  TYPE         OUTCOME        WORKFLOW
2026-03-01 12:00:10.000  e2  stripe.paid  dead-lettered  -
`,
		},
		{
			name: "a time window, newest first",
			args: []string{"--since", "2026-03-01T12:00:04Z", "--until", "2026-03-01T12:00:06Z"},
			want: `RECEIVED (UTC)           ID                                     TYPE                     OUTCOME  WORKFLOW
2026-03-01 12:00:05.000  billing-t/billing.ready                billing.ready            ignored  -
2026-03-01 12:00:04.000  onboarding-u1/email.verification_sent  email.verification_sent  ignored  -
`,
		},
		{
			name: "limit",
			args: []string{"--limit", "1"},
			want: `RECEIVED (UTC)           ID  TYPE         OUTCOME        WORKFLOW
2026-03-01 12:00:10.000  e2  stripe.paid  dead-lettered  -
`,
		},
		{
			name: "nothing matches",
			args: []string{"--type", "nope", "--since", "7d"},
			want: "No events in the ledger match.\n",
		},
		{
			name: "every outcome the bridge records is a filter: waiting",
			args: []string{"--outcome", "waiting"},
			want: "No events in the ledger match.\n",
		},
		{
			name: "every outcome the bridge records is a filter: held",
			args: []string{"--outcome", "held"},
			want: "No events in the ledger match.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := bridgeEvents(t, url, append([]string{"events", "ls"}, tt.args...)...)
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}
}

func TestEventsErrors(t *testing.T) {
	url := seedLedger(t)
	tests := []struct {
		name      string
		url       string
		args      []string
		wantUsage bool
		wantErr   string
	}{
		{name: "unknown subcommand", args: []string{"events", "rm"}, wantUsage: true, wantErr: `unknown command "rm" for "bridge events"`},
		{name: "ls with an argument", args: []string{"events", "ls", "user.signedup"}, wantUsage: true, wantErr: `bridge events ls takes flags only, got the argument "user.signedup"`},
		{name: "show with two ids", args: []string{"events", "show", "e1", "e2"}, wantUsage: true, wantErr: `takes one event id, got "e1 e2"`},
		{name: "unknown flag", args: []string{"events", "ls", "--typ", "x"}, wantUsage: true, wantErr: "unknown flag: --typ"},
		{name: "show without id", args: []string{"events", "show"}, wantUsage: true, wantErr: "one event id"},
		{name: "bad outcome", args: []string{"events", "ls", "--outcome", "lost"}, wantUsage: true, wantErr: `--outcome "lost" is not one of`},
		{name: "bad time", args: []string{"events", "ls", "--since", "yesterday"}, wantUsage: true, wantErr: `--since: "yesterday" is not a time`},
		{name: "bad limit", args: []string{"events", "ls", "--limit", "0"}, wantUsage: true, wantErr: "--limit 0 must be between 1 and 1000"},
		{name: "unknown event", args: []string{"events", "show", "nope"}, wantErr: "the event ledger has no event nope"},
		{name: "PostgreSQL unreachable", url: "postgres://postgres@127.0.0.1:1/flowbridge?sslmode=disable&connect_timeout=2",
			args: []string{"events", "ls"}, wantErr: "start PostgreSQL or set DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := url
			if tt.url != "" {
				u = tt.url
			}
			_, _, err := bridgeEvents(t, u, tt.args...)
			require.ErrorContains(t, err, tt.wantErr)
			if tt.wantUsage {
				require.ErrorIs(t, err, admin.ErrUsage)
			}
		})
	}

	out, _, err := bridgeEvents(t, url, "help")
	require.NoError(t, err)
	require.Regexp(t, `events\s+what the bridge did with events`, out)
	for _, args := range [][]string{{"events"}, {"events", "--help"}, {"events", "help"}} {
		out, _, err = bridgeEvents(t, url, args...)
		require.NoError(t, err, "bridge %v: a group of commands prints its help", args)
		require.Contains(t, out, "bridge events [command]")
	}
}
