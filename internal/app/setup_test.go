package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// bridgeUserPermissions are all a running bridge needs with BRIDGE_PROVISION=false, found
// by running it, and each one needed: without any one of them this test fails
// (docs/CONTRACT.md, "Trust model", and deploy/nats/README.md list the same). Publish its
// events, dead letters and parked signals; look up its streams and consumers; pull from
// and ack on its two consumers; get (direct) and delete parked signals; and its inboxes
// for the replies. Nothing that creates, updates or deletes a stream or consumer.
func bridgeUserPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"events.>", "dlq.>", "waiting.>",
			"$JS.API.STREAM.INFO.EVENTS", "$JS.API.STREAM.INFO.EVENTS_DLQ", "$JS.API.STREAM.INFO.EVENTS_WAITING",
			"$JS.API.CONSUMER.INFO.EVENTS.bridge", "$JS.API.CONSUMER.INFO.EVENTS_WAITING.bridge-waiting",
			// The windows' streams and consumers, which start-up checks; pulling from them
			// is needed only by routes with debounce or batch (docs/ARCHITECTURE.md).
			"$JS.API.STREAM.INFO.EVENTS_DEBOUNCE", "$JS.API.STREAM.INFO.EVENTS_BATCH",
			"$JS.API.CONSUMER.INFO.EVENTS_DEBOUNCE.bridge-debounce", "$JS.API.CONSUMER.INFO.EVENTS_BATCH.bridge-batch",
			"$JS.API.CONSUMER.MSG.NEXT.EVENTS.bridge", "$JS.API.CONSUMER.MSG.NEXT.EVENTS_WAITING.bridge-waiting",
			"$JS.ACK.EVENTS.bridge.>", "$JS.ACK.EVENTS_WAITING.bridge-waiting.>",
			"$JS.API.DIRECT.GET.EVENTS_WAITING",
			"$JS.API.STREAM.MSG.DELETE.EVENTS_WAITING",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A bridge whose NATS user may not manage streams or consumers (BRIDGE_PROVISION=false)
// refuses to start, naming `bridge setup`, until an admin user has run it; then it routes
// events — a start, a signal that waits for its workflow in EVENTS_WAITING, a dead letter —
// without one permissions violation.
func TestBridgeWithoutAdminRightsAfterSetup(t *testing.T) {
	tc := testenv.Temporal(t)
	adminPassword, bridgePassword := testenv.ID("admin-"), testenv.ID("bridge-")
	n := testenv.StartNATSWith(t, testenv.NATSAuth{
		Server: func(o *server.Options) {
			o.Users = []*server.User{
				{Username: "admin", Password: adminPassword},
				{Username: "bridge", Password: bridgePassword, Permissions: bridgeUserPermissions()},
			}
		},
		Client: []nats.Option{nats.UserInfo("admin", adminPassword)},
	})
	env := authBridgeEnv(t, n.URL, map[string]string{
		"NATS_USER":             "bridge",
		"NATS_PASSWORD":         bridgePassword,
		"BRIDGE_PROVISION":      "false",
		"TEMPORAL_ADDRESS":      testenv.TemporalAddress(),
		"TEMPORAL_TASK_QUEUE":   testenv.ID("noadmin-"),
		"INGRESS_EVENTS_TOKENS": sweepToken + "=user.>|email.verified",
	})
	var logs syncBuffer
	log := zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), &logs)).With().Timestamp().Logger()

	// Before setup: the bridge stops at start-up, saying what is missing and what to do.
	cfg, err := config.LoadBridge(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, err := newBridgeProcess(t.Context(), cfg, log)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = p.run(ctx)
	require.Error(t, err, "a bridge without its streams must not start")
	for _, want := range []string{"stream EVENTS, stream EVENTS_DLQ, stream EVENTS_WAITING, stream EVENTS_DEBOUNCE, stream EVENTS_BATCH, consumer EVENTS > bridge, consumer EVENTS_WAITING > bridge-waiting, consumer EVENTS_DEBOUNCE > bridge-debounce, consumer EVENTS_BATCH > bridge-batch missing", "run `bridge setup` first"} {
		require.ErrorContains(t, err, want)
	}
	require.NoError(t, ctx.Err(), "the missing streams must fail start-up, not be waited for")

	// The bridge's own user cannot run setup; the admin user can.
	var out bytes.Buffer
	setupCfg, err := config.LoadSetup(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	err = RunSetup(t.Context(), setupCfg, &out, testenv.Logger(t))
	require.ErrorContains(t, err, `Permissions Violation for Publish to "$JS.API.STREAM.CREATE.EVENTS"`, "bridge setup as the bridge's user")
	require.ErrorContains(t, err, "bridge setup needs a NATS user allowed to manage streams and consumers")
	setupCfg, err = config.LoadSetup([]string{"-nats-user=admin", "-nats-password=" + adminPassword}, func(k string) string { return env[k] })
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, RunSetup(t.Context(), setupCfg, &out, log), out.String())
	require.Contains(t, out.String(), "Made ")

	p, err = newBridgeProcess(t.Context(), cfg, log)
	require.NoError(t, err)
	b := &testBridge{bridgeProcess: p, nats: n, public: "http://" + p.publicLn.Addr().String()}
	b.start(t)

	// A signal before its workflow waits in EVENTS_WAITING; the start wakes it.
	user := testenv.ID("noadmin-user-")
	workflowID := "onboarding-" + user
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), workflowID, "", "test over") })
	post := func(typ, data string) {
		t.Helper()
		ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":%q,"source":"/noadmin","data":%s}`, testenv.ID("evt-"), typ, data)
		var status int
		var body []byte
		testenv.Eventually(t, 15*time.Second, func() bool {
			status, _, body = sweepRequest(t, http.MethodPost, b.public+"/events", structured(), []byte(ev))
			return status == http.StatusAccepted
		}, "POST %s: got %d %s, want 202", typ, &status, &body)
	}
	post("email.verified", fmt.Sprintf(`{"user_id":%q}`, user))
	testenv.Eventually(t, 15*time.Second, func() bool {
		s, err := n.JS.Stream(t.Context(), events.WaitingStream)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 1
	}, "the early signal was never parked in %s", events.WaitingStream)
	post("user.signedup", fmt.Sprintf(`{"user_id":%q,"email":"noadmin@example.com"}`, user))
	testenv.Eventually(t, 30*time.Second, func() bool {
		iter := tc.GetWorkflowHistory(t.Context(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				return false
			}
			if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == contract.SignalEmailVerified {
				return true
			}
		}
		return false
	}, "%s was never started and signalled", workflowID)

	// An event that cannot be decoded becomes a dead letter.
	_, err = n.JS.Publish(t.Context(), "events.user.signedup", []byte("not an event"))
	require.NoError(t, err)
	testenv.Eventually(t, 15*time.Second, func() bool {
		s, err := n.JS.Stream(t.Context(), events.DLQStream)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 1
	}, "the undecodable event was never dead-lettered")

	require.NotContains(t, strings.ToLower(logs.String()), "permission", "the bridge hit a permissions violation")
}

// A bridge with BRIDGE_PROVISION (the default) creates the streams that are missing with
// the stream settings, leaves an existing one as it is, and logs how it differs from them.
func TestProvisioningBridgeCreatesMissingStreamsWithTheSettings(t *testing.T) {
	n := testenv.StartNATS(t)
	_, err := n.JS.CreateStream(t.Context(), events.StreamConfigs(2 * time.Minute)[0]) // an operator's EVENTS
	require.NoError(t, err)
	cfg, err := config.LoadBridge(nil, func(k string) string {
		return map[string]string{"NATS_URL": n.URL, "EVENTS_STORAGE": "memory", "DLQ_MAX_AGE": "1h"}[k]
	})
	require.NoError(t, err)
	var logs syncBuffer
	require.NoError(t, prepareJetStream(t.Context(), n.JS, cfg, zerolog.New(zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), &logs))))

	info := func(name string) jetstream.StreamConfig {
		t.Helper()
		s, err := n.JS.Stream(t.Context(), name)
		require.NoError(t, err, name)
		return s.CachedInfo().Config
	}
	evs := info(events.Stream)
	require.Equal(t, jetstream.FileStorage, evs.Storage, "the existing EVENTS was changed")
	require.Equal(t, 2*time.Minute, evs.Duplicates, "the existing EVENTS was changed")
	dlq := info(events.DLQStream)
	require.Equal(t, jetstream.MemoryStorage, dlq.Storage)
	require.Equal(t, time.Hour, dlq.MaxAge)
	require.Equal(t, jetstream.MemoryStorage, info(events.WaitingStream).Storage)
	require.Equal(t, jetstream.MemoryStorage, info(events.DebounceStream).Storage, "the windows' streams are provisioned too")
	require.Equal(t, int64(1), info(events.DebounceStream).MaxMsgsPerSubject)
	require.Equal(t, jetstream.MemoryStorage, info(events.BatchStream).Storage)
	for _, want := range []string{"stream EVENTS: storage file -> memory: cannot be changed", "stream EVENTS: duplicate_window 2m -> 10m", "`bridge setup` applies them"} {
		require.Contains(t, logs.String(), want)
	}

	// Again: nothing is missing, nothing is created, the same differences are logged.
	require.NoError(t, prepareJetStream(t.Context(), n.JS, cfg, zerolog.Nop()))
	require.Equal(t, evs, info(events.Stream))
}
