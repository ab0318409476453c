package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// The black-box sweep of issue 7: well over a hundred kinds of bad input, at every door of
// a whole bridge process (real NATS, Temporal and PostgreSQL): HTTP routes, methods and
// paths, the CloudEvents binding's modes, attribute bounds, tokens, both webhooks'
// signatures and payloads, and messages published straight to the stream. Each HTTP
// request gets a 4xx with a JSON body that says what is wrong; each message gets a dead
// letter whose Flowbridge-Error names the cause. Afterwards a good event still routes to
// Temporal, and the public /readyz is 200.

const (
	sweepToken        = "sweep-token"
	sweepStripeSecret = "whsec_sweep"
	sweepGitHubSecret = "github-sweep"
	sweepMaxBody      = 64 << 10
)

// httpCase is one bad request and the refusal it must get.
type httpCase struct {
	name   string
	admin  bool // sent to the admin address instead of the public port
	method string
	path   string
	header http.Header
	body   []byte
	status int
	field  string // the refusal's "field", when it must name one
}

// natsCase is one bad message and what its dead letter's Flowbridge-Error must say.
type natsCase struct {
	name    string
	subject string
	header  nats.Header
	body    []byte
	reason  string
}

func TestSweepBadInputAtEveryDoor(t *testing.T) {
	n := testenv.StartNATS(t)
	tc := testenv.Temporal(t)
	user := testenv.ID("sweep-user-")
	cfg, err := config.LoadBridge(nil, func(k string) string {
		return map[string]string{
			"NATS_URL":               n.URL,
			"TEMPORAL_ADDRESS":       testenv.TemporalAddress(),
			"DATABASE_URL":           testenv.Postgres(t),
			"TEMPORAL_TASK_QUEUE":    testenv.ID("sweep-"),
			"STRIPE_WEBHOOK_SECRET":  sweepStripeSecret,
			"STRIPE_API_KEY":         "sk_test_sweep",
			"STRIPE_API_BASE":        testenv.StripeMock(t),
			"GITHUB_WEBHOOK_SECRET":  sweepGitHubSecret,
			"INGRESS_EVENTS_TOKENS":  sweepToken + "=user.>|email.verified",
			"INGRESS_MAX_BODY_BYTES": strconv.Itoa(sweepMaxBody),
		}[k]
	})
	require.NoError(t, err)
	cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	p, err := newBridgeProcess(t.Context(), cfg, testenv.Logger(t))
	require.NoError(t, err)
	b := &testBridge{bridgeProcess: p, nats: n, public: "http://" + p.publicLn.Addr().String(), admin: "http://" + p.adminLn.Addr().String()}
	b.start(t)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return doRequest(t, http.MethodGet, b.public+"/readyz").status == http.StatusOK &&
			doRequest(t, http.MethodGet, b.admin+"/events/none").status == http.StatusNotFound
	}, "the bridge (and its ledger) never became ready")

	httpCases := sweepHTTPCases()
	natsCases := sweepNATSCases()
	require.GreaterOrEqual(t, len(httpCases)+len(natsCases), 100, "the sweep must try at least 100 kinds of bad input")

	t.Run("http", func(t *testing.T) {
		for _, tc := range httpCases {
			t.Run(tc.name, func(t *testing.T) {
				base := b.public
				if tc.admin {
					base = b.admin
				}
				status, header, body := sweepRequest(t, tc.method, base+tc.path, tc.header, tc.body)
				require.Equal(t, tc.status, status, "got %d, want %d: %s", status, tc.status, body)
				require.Equal(t, "application/json", header.Get("Content-Type"), "a refusal in %q: %s", header.Get("Content-Type"), body)
				var refusal struct {
					Error string `json:"error"`
					Field string `json:"field"`
				}
				require.NoError(t, json.Unmarshal(body, &refusal), "body is not JSON: %s", body)
				require.NotEmpty(t, refusal.Error, "a refusal without an error: %s", body)
				if tc.field != "" {
					require.Equal(t, tc.field, refusal.Field, "field: %s", body)
				}
			})
		}
	})

	t.Run("nats", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		bySeq := map[uint64]natsCase{}
		for _, c := range natsCases {
			m := &nats.Msg{Subject: c.subject, Header: c.header, Data: c.body}
			ack, err := n.JS.PublishMsg(ctx, m, jetstream.WithExpectStream(events.Stream))
			require.NoError(t, err, "%s: the stream refused the message itself", c.name)
			bySeq[ack.Sequence] = c
		}
		reasons := deadLetterReasons(t, ctx, n.JS, len(bySeq))
		for seq, c := range bySeq {
			t.Run(c.name, func(t *testing.T) {
				reason, ok := reasons[seq]
				require.True(t, ok, "no dead letter for EVENTS sequence %d", seq)
				require.Contains(t, reason, c.reason, "Flowbridge-Error %q does not name the cause", reason)
			})
		}
	})

	// Afterwards: NATS connections alive, the public port ready, and a good event routes.
	require.Equal(t, http.StatusOK, doRequest(t, http.MethodGet, b.public+"/healthz").status)
	require.Equal(t, http.StatusOK, doRequest(t, http.MethodGet, b.public+"/readyz").status)
	ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":"user.signedup","source":"/sweep","data":{"user_id":%q,"email":"sweep@example.com"}}`, testenv.ID("good-"), user)
	status, _, body := sweepRequest(t, http.MethodPost, b.public+"/events", structured(), []byte(ev))
	require.Equal(t, http.StatusAccepted, status, "the good event: %s", body)
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, err := tc.DescribeWorkflowExecution(t.Context(), "onboarding-"+user, "")
		return err == nil
	}, "after the sweep, onboarding-%s was never started", user)
}

// deadLetterReasons reads EVENTS_DLQ until it holds want dead letters (or none comes for
// 30s) and returns each one's Flowbridge-Error by its Flowbridge-Stream-Sequence.
func deadLetterReasons(t *testing.T, ctx context.Context, js jetstream.JetStream, want int) map[uint64]string {
	t.Helper()
	reasons := map[uint64]string{}
	cons, err := js.OrderedConsumer(ctx, events.DLQStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for len(reasons) < want {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Errorf("%d of %d dead letters arrived: %v", len(reasons), want, err)
			break
		}
		seq, err := strconv.ParseUint(msg.Headers().Get(events.HeaderStreamSeq), 10, 64)
		require.NoError(t, err, "a dead letter without %s", events.HeaderStreamSeq)
		reasons[seq] = msg.Headers().Get(events.HeaderError)
	}
	return reasons
}

func sweepRequest(t *testing.T, method, url string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, out
}

func structured() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents+json"}, "Authorization": {"Bearer " + sweepToken}}
}

func batch() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents-batch+json"}, "Authorization": {"Bearer " + sweepToken}}
}

// binaryMode is a binary-mode request with the token and these ce- headers.
func binaryMode(ce map[string]string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + sweepToken}}
	for k, v := range ce {
		h["Ce-"+k] = []string{v}
	}
	return h
}

// event is a structured CloudEvent with fields replaced (a nil value removes one).
func event(edit map[string]any) []byte {
	ev := map[string]any{
		"specversion": "1.0", "id": testenv.ID("ev-"), "type": "user.signedup", "source": "/sweep",
		"data": map[string]any{"user_id": "u-1", "email": "a@example.com"},
	}
	for k, v := range edit {
		if v == nil {
			delete(ev, k)
		} else {
			ev[k] = v
		}
	}
	out, _ := json.Marshal(ev)
	return out
}

// rawEvent is a structured CloudEvent built from raw JSON members, for values json.Marshal
// would not write (invalid UTF-8).
func rawEvent(members string) []byte {
	return []byte(`{"specversion":"1.0","source":"/sweep","data":{"user_id":"u-1","email":"a@example.com"},` + members + `}`)
}

func manyExtensions(n int) map[string]any {
	edit := map[string]any{}
	for i := range n {
		edit["ext"+strconv.Itoa(i)] = "v"
	}
	return edit
}

func stripeSigned(body []byte, at time.Time) http.Header {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: sweepStripeSecret, Timestamp: at})
	return http.Header{"Stripe-Signature": {signed.Header}, "Content-Type": {"application/json"}}
}

func githubSigned(event, delivery string, body []byte) http.Header {
	return http.Header{
		"X-Hub-Signature-256": {signGitHub(body, sweepGitHubSecret)},
		"X-Github-Event":      {event}, "X-Github-Delivery": {delivery},
		"Content-Type": {"application/json"},
	}
}

func sweepHTTPCases() []httpCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	stripeEvent := func(id, typ, object string) []byte {
		quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		return []byte(fmt.Sprintf(`{"id":%s,"object":"event","type":%s,"created":%d,"data":{"object":%s}}`, quoted(id), quoted(typ), time.Now().Unix(), object))
	}
	okStripe := stripeEvent("evt_sweep", "customer.created", `{"id":"cus_1"}`)
	push := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"acme/app","clone_url":"https://github.com/acme/app.git"}}`)
	now := time.Now()
	cases := []httpCase{
		// Paths and methods, public port.
		{name: "GET /events", method: "GET", path: "/events", status: 405},
		{name: "PUT /events", method: "PUT", path: "/events", status: 405},
		{name: "PATCH /events", method: "PATCH", path: "/events", status: 405},
		{name: "DELETE /webhooks/stripe", method: "DELETE", path: "/webhooks/stripe", status: 405},
		{name: "GET /webhooks/github", method: "GET", path: "/webhooks/github", status: 405},
		{name: "POST /healthz", method: "POST", path: "/healthz", status: 405},
		{name: "POST /readyz", method: "POST", path: "/readyz", status: 405},
		{name: "GET /", method: "GET", path: "/", status: 404},
		{name: "GET /admin", method: "GET", path: "/admin", status: 404},
		{name: "GET /metrics on the public port", method: "GET", path: "/metrics", status: 404},
		{name: "the ledger on the public port", method: "GET", path: "/events/evt-1", status: 404},
		{name: "pprof on the public port", method: "GET", path: "/debug/pprof/", status: 404},
		{name: "dot-dot path", method: "GET", path: "/%2e%2e/%2e%2e/etc/passwd", status: 404},
		{name: "an 8 KiB path", method: "GET", path: "/" + long(8<<10), status: 404},
		{name: "unknown webhook", method: "POST", path: "/webhooks/gitlab", status: 404},
		{name: "NUL in the path", method: "GET", path: "/%00", status: 404},
		{name: "headers over the limit", method: "POST", path: "/events", header: http.Header{"X-Padding": {long(70 << 10)}}, body: event(nil), status: 431},
		// POST /events: who may publish.
		{name: "no token", method: "POST", path: "/events", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: event(nil), status: 401},
		{name: "wrong token", method: "POST", path: "/events", header: http.Header{"Content-Type": {"application/cloudevents+json"}, "Authorization": {"Bearer nope"}}, body: event(nil), status: 401},
		{name: "basic auth", method: "POST", path: "/events", header: http.Header{"Content-Type": {"application/cloudevents+json"}, "Authorization": {"Basic c3dlZXA6dG9rZW4="}}, body: event(nil), status: 401},
		{name: "empty bearer", method: "POST", path: "/events", header: http.Header{"Content-Type": {"application/cloudevents+json"}, "Authorization": {"Bearer "}}, body: event(nil), status: 401},
		{name: "forged stripe.paid", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "stripe.paid", "data": map[string]any{"payment_id": "pi_1", "customer_id": "c", "amount": 1, "currency": "usd"}}), status: 403, field: "type"},
		{name: "forged blueprint.pushed", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "blueprint.pushed"}), status: 403, field: "type"},
		{name: "forged github.push", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "github.push"}), status: 403, field: "type"},
		{name: "type outside the token's scope", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "connector.sync.requested"}), status: 403, field: "type"},
		{name: "batch with one event outside the scope", method: "POST", path: "/events", header: batch(), body: []byte("[" + string(event(nil)) + "," + string(event(map[string]any{"type": "stripe.paid"})) + "]"), status: 403},
		// POST /events: the binding's modes.
		{name: "no content type, no ce headers", method: "POST", path: "/events", header: http.Header{"Authorization": {"Bearer " + sweepToken}}, body: []byte(`{}`), status: 400},
		{name: "structured, invalid JSON", method: "POST", path: "/events", header: structured(), body: []byte(`{"specversion":`), status: 400},
		{name: "structured, a JSON array", method: "POST", path: "/events", header: structured(), body: []byte(`[1]`), status: 400},
		{name: "structured, empty body", method: "POST", path: "/events", header: structured(), status: 400},
		{name: "structured, a string", method: "POST", path: "/events", header: structured(), body: []byte(`"event"`), status: 400},
		{name: "structured, deeply nested", method: "POST", path: "/events", header: structured(), body: []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)), status: 400},
		{name: "batch, not an array", method: "POST", path: "/events", header: batch(), body: event(nil), status: 400},
		{name: "batch, empty", method: "POST", path: "/events", header: batch(), body: []byte(`[]`), status: 400},
		{name: "batch, a number inside", method: "POST", path: "/events", header: batch(), body: []byte(`[1]`), status: 400},
		{name: "batch, one event without id", method: "POST", path: "/events", header: batch(), body: []byte("[" + string(event(nil)) + "," + string(event(map[string]any{"id": nil})) + "]"), status: 400},
		{name: "binary, only specversion", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0"}), body: []byte(`{}`), status: 400},
		{name: "body over the limit", method: "POST", path: "/events", header: structured(), body: bytes.Repeat([]byte(" "), sweepMaxBody+1), status: 413},
		// POST /events: attributes.
		{name: "no id", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": nil}), status: 400, field: "id"},
		{name: "no source", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"source": nil}), status: 400, field: "source"},
		{name: "no type", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": nil}), status: 400, field: "type"},
		{name: "no specversion", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"specversion": nil}), status: 400},
		{name: "specversion 0.3", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"specversion": "0.3"}), status: 400},
		{name: "specversion 2.0", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"specversion": "2.0"}), status: 400},
		{name: "binary specversion 0.3", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "0.3", "Id": "e", "Type": "user.signedup", "Source": "/s"}), body: []byte(`{}`), status: 400, field: "specversion"},
		{name: "type of 5000 bytes", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user." + long(4995)}), status: 400, field: "type"},
		{name: "type of 256 bytes", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user." + long(251)}), status: 400, field: "type"},
		{name: "binary type of 5000 bytes", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "e-long", "Type": "user." + long(4995), "Source": "/s"}), body: []byte(`{}`), status: 400, field: "type"},
		{name: "type with a space", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user.signed up"}), status: 400, field: "type"},
		{name: "type with *", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user.*"}), status: 400, field: "type"},
		{name: "type with >", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user.>"}), status: 400, field: "type"},
		{name: "type with an empty token", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user..signedup"}), status: 400, field: "type"},
		{name: "type with a leading dot", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": ".user"}), status: 400, field: "type"},
		{name: "type with a trailing dot", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user."}), status: 400, field: "type"},
		{name: "type with a non-ASCII letter", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "usér.signedup"}), status: 400, field: "type"},
		{name: "type with a tab", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "user.\tsignedup"}), status: 400, field: "type"},
		{name: "binary id %00", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "%00", "Type": "user.signedup", "Source": "/s"}), body: []byte(`{"user_id":"u","email":"a@example.com"}`), status: 400, field: "id"},
		{name: "id with NUL", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": "e\x00"}), status: 400, field: "id"},
		{name: "id of 257 bytes", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": long(257)}), status: 400, field: "id"},
		{name: "id with an escape", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": "e\x1b[2J"}), status: 400, field: "id"},
		{name: "id with a newline", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": "e\nf"}), status: 400, field: "id"},
		{name: "id with a leading space", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"id": " e"}), status: 400, field: "id"},
		{name: "id of invalid UTF-8", method: "POST", path: "/events", header: structured(), body: rawEvent(`"id":"e\xff","type":"user.signedup"`), status: 400},
		{name: "source of 1025 bytes", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"source": "/" + long(1024)}), status: 400, field: "source"},
		{name: "source with a control character", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"source": "/s\x07"}), status: 400},
		{name: "subject with a NUL", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"subject": "s\x00"}), status: 400, field: "subject"},
		{name: "subject of 2 KiB", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"subject": long(2048)}), status: 400, field: "subject"},
		{name: "binary source of invalid UTF-8", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "e-src", "Type": "user.signedup", "Source": "/s%FF"}), body: []byte(`{"user_id":"u","email":"a@example.com"}`), status: 400, field: "source"},
		{name: "extension of invalid UTF-8", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "e-ext", "Type": "user.signedup", "Source": "/s", "Foo": "%FF%FE"}), body: []byte(`{"user_id":"u","email":"a@example.com"}`), status: 400},
		{name: "extension name with a hyphen", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"foo-bar": "x"}), status: 400},
		{name: "extension name of 100 bytes", method: "POST", path: "/events", header: structured(), body: event(map[string]any{long(100): "x"}), status: 400},
		{name: "extension value of 2 KiB", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"foo": long(2048)}), status: 400},
		{name: "33 extensions", method: "POST", path: "/events", header: structured(), body: event(manyExtensions(33)), status: 400},
		{name: "time not a timestamp", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"time": "yesterday"}), status: 400},
		{name: "binary time not a timestamp", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "e-t", "Type": "user.signedup", "Source": "/s", "Time": "soon"}), body: []byte(`{}`), status: 400, field: "time"},
		{name: "datacontenttype of 2 KiB", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"datacontenttype": "application/" + long(2048)}), status: 400},
		{name: "data_base64 not base64", method: "POST", path: "/events", header: structured(), body: rawEvent(`"id":"e-b64","type":"user.signedup","data_base64":"!!!"`), status: 400},
		// POST /events: data against its schema.
		{name: "signup without email", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"data": map[string]any{"user_id": "u"}}), status: 400, field: "data"},
		{name: "signup with a bad email", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"data": map[string]any{"user_id": "u", "email": "not-an-email"}}), status: 400, field: "data"},
		{name: "signup with an empty user id", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"data": map[string]any{"user_id": "", "email": "a@example.com"}}), status: 400, field: "data"},
		{name: "signup with data a string", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"data": "hello"}), status: 400, field: "data"},
		{name: "binary data not JSON", method: "POST", path: "/events", header: binaryMode(map[string]string{"Specversion": "1.0", "Id": "e-nj", "Type": "user.signedup", "Source": "/s"}), body: []byte(`not json`), status: 400},
		{name: "verified without user id", method: "POST", path: "/events", header: structured(), body: event(map[string]any{"type": "email.verified", "data": map[string]any{}}), status: 400, field: "data"},
		// Stripe.
		{name: "stripe without signature", method: "POST", path: "/webhooks/stripe", header: http.Header{"Content-Type": {"application/json"}}, body: okStripe, status: 401},
		{name: "stripe signature malformed", method: "POST", path: "/webhooks/stripe", header: http.Header{"Stripe-Signature": {"garbage"}}, body: okStripe, status: 401},
		{name: "stripe signature of another secret", method: "POST", path: "/webhooks/stripe", header: http.Header{"Stripe-Signature": {webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: okStripe, Secret: "whsec_other", Timestamp: now}).Header}}, body: okStripe, status: 401},
		{name: "stripe signature of another body", method: "POST", path: "/webhooks/stripe", header: stripeSigned([]byte(`{}`), now), body: okStripe, status: 401},
		{name: "stripe signature an hour old", method: "POST", path: "/webhooks/stripe", header: stripeSigned(okStripe, now.Add(-time.Hour)), body: okStripe, status: 401},
		{name: "stripe signature an hour ahead", method: "POST", path: "/webhooks/stripe", header: stripeSigned(okStripe, now.Add(time.Hour)), body: okStripe, status: 401},
		{name: "stripe signature with two timestamps", method: "POST", path: "/webhooks/stripe", header: http.Header{"Stripe-Signature": {"t=1," + stripeSigned(okStripe, now)["Stripe-Signature"][0]}}, body: okStripe, status: 401},
		{name: "stripe body not JSON", method: "POST", path: "/webhooks/stripe", header: stripeSigned([]byte(`nope`), now), body: []byte(`nope`), status: 400},
		{name: "stripe event without id", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("", "customer.created", `{}`), now), body: stripeEvent("", "customer.created", `{}`), status: 400},
		{name: "stripe thin event", method: "POST", path: "/webhooks/stripe", header: stripeSigned([]byte(`{"id":"evt_thin","type":"v1.billing.meter.no_meter_found"}`), now), body: []byte(`{"id":"evt_thin","type":"v1.billing.meter.no_meter_found"}`), status: 400},
		{name: "stripe event id with NUL", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("evt\x00", "customer.created", `{}`), now), body: stripeEvent("evt\x00", "customer.created", `{}`), status: 400, field: "id"},
		{name: "stripe type of 300 bytes", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("evt_long", long(300), `{}`), now), body: stripeEvent("evt_long", long(300), `{}`), status: 400, field: "type"},
		{name: "stripe type with a space", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("evt_sp", "customer created", `{}`), now), body: stripeEvent("evt_sp", "customer created", `{}`), status: 400, field: "type"},
		{name: "stripe payment with amount a string", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("evt_amt", "payment_intent.succeeded", `{"id":"pi_1","amount_received":"lots"}`), now), body: stripeEvent("evt_amt", "payment_intent.succeeded", `{"id":"pi_1","amount_received":"lots"}`), status: 400},
		{name: "stripe payment without customer", method: "POST", path: "/webhooks/stripe", header: stripeSigned(stripeEvent("evt_nocus", "payment_intent.succeeded", `{"id":"pi_1","currency":"usd","amount_received":5}`), now), body: stripeEvent("evt_nocus", "payment_intent.succeeded", `{"id":"pi_1","currency":"usd","amount_received":5}`), status: 400, field: "data"},
		{name: "stripe body over the limit", method: "POST", path: "/webhooks/stripe", header: stripeSigned(okStripe, now), body: bytes.Repeat([]byte(" "), sweepMaxBody+1), status: 413},
		// GitHub.
		{name: "github without signature", method: "POST", path: "/webhooks/github", header: http.Header{"X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"}, "Content-Type": {"application/json"}}, body: push, status: 401},
		{name: "github signature malformed", method: "POST", path: "/webhooks/github", header: http.Header{"X-Hub-Signature-256": {"md5=abc"}, "X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"}}, body: push, status: 401},
		{name: "github signature of another secret", method: "POST", path: "/webhooks/github", header: http.Header{"X-Hub-Signature-256": {signGitHub(push, "other")}, "X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"}, "Content-Type": {"application/json"}}, body: push, status: 401},
		{name: "github without event header", method: "POST", path: "/webhooks/github", header: http.Header{"X-Hub-Signature-256": {signGitHub(push, sweepGitHubSecret)}, "X-Github-Delivery": {"d-1"}, "Content-Type": {"application/json"}}, body: push, status: 400},
		{name: "github without delivery header", method: "POST", path: "/webhooks/github", header: http.Header{"X-Hub-Signature-256": {signGitHub(push, sweepGitHubSecret)}, "X-Github-Event": {"push"}, "Content-Type": {"application/json"}}, body: push, status: 400},
		{name: "github form-encoded", method: "POST", path: "/webhooks/github", header: http.Header{"X-Hub-Signature-256": {signGitHub(push, sweepGitHubSecret)}, "X-Github-Event": {"push"}, "X-Github-Delivery": {"d-1"}, "Content-Type": {"application/x-www-form-urlencoded"}}, body: push, status: 400},
		{name: "github body not JSON", method: "POST", path: "/webhooks/github", header: githubSigned("push", "d-2", []byte(`<xml/>`)), body: []byte(`<xml/>`), status: 400},
		{name: "github event name with a space", method: "POST", path: "/webhooks/github", header: githubSigned("pull request", "d-3", []byte(`{}`)), body: []byte(`{}`), status: 400, field: "type"},
		{name: "github delivery of 300 bytes", method: "POST", path: "/webhooks/github", header: githubSigned("issues", long(300), []byte(`{}`)), body: []byte(`{}`), status: 400, field: "id"},
		{name: "github push without repository", method: "POST", path: "/webhooks/github", header: githubSigned("push", "d-4", []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`)), body: []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`), status: 400, field: "data"},
		{name: "github body over the limit", method: "POST", path: "/webhooks/github", header: githubSigned("push", "d-5", push), body: bytes.Repeat([]byte(" "), sweepMaxBody+1), status: 413},
		// The admin address.
		{name: "admin: ledger id %00", admin: true, method: "GET", path: "/events/%00", status: 400, field: "id"},
		{name: "admin: ledger id of 300 bytes", admin: true, method: "GET", path: "/events/" + long(300), status: 400, field: "id"},
		{name: "admin: ledger id unknown", admin: true, method: "GET", path: "/events/" + testenv.ID("nobody-"), status: 404},
		{name: "admin: POST /metrics", admin: true, method: "POST", path: "/metrics", status: 405},
		{name: "admin: unknown path", admin: true, method: "GET", path: "/nothing", status: 404},
		{name: "admin: webhooks are not here", admin: true, method: "POST", path: "/webhooks/stripe", body: okStripe, status: 404},
	}
	return cases
}

func sweepNATSCases() []natsCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	signup := []byte(`{"user_id":"u-1","email":"a@example.com"}`)
	binaryMsg := func(edit map[string]string) nats.Header {
		h := nats.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {testenv.ID("nats-")}, "Ce-Type": {"user.signedup"}, "Ce-Source": {"/sweep"}, "Content-Type": {"application/json"}}
		for k, v := range edit {
			if v == "" {
				delete(h, k)
			} else {
				h[k] = []string{v}
			}
		}
		return h
	}
	structuredMsg := nats.Header{"Content-Type": {"application/cloudevents+json"}}
	return []natsCase{
		{name: "garbage, no headers", subject: "events.user.signedup", body: []byte("\x00\x01garbage"), reason: "ce-specversion"},
		{name: "structured, invalid JSON", subject: "events.user.signedup", header: structuredMsg, body: []byte(`{"specversion":`), reason: "not a CloudEvent"},
		{name: "structured, missing id", subject: "events.user.signedup", header: structuredMsg, body: []byte(`{"specversion":"1.0","type":"user.signedup","source":"/s"}`), reason: "id"},
		{name: "binary, no id", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Id": ""}), body: signup, reason: "id"},
		{name: "binary, no source", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Source": ""}), body: signup, reason: "source"},
		{name: "binary, no type", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Type": ""}), body: signup, reason: "type"},
		{name: "specversion 0.3", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Specversion": "0.3"}), body: signup, reason: "specversion"},
		{name: "type of another subject", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Type": "email.verified"}), body: signup, reason: "must be published on events.email.verified"},
		{name: "type of 5000 bytes", subject: "events.x", header: binaryMsg(map[string]string{"Ce-Type": "x." + long(4998)}), body: signup, reason: "type"},
		{name: "type with a wildcard", subject: "events.x", header: binaryMsg(map[string]string{"Ce-Type": "x.*"}), body: signup, reason: "type"},
		{name: "type with a space", subject: "events.x", header: binaryMsg(map[string]string{"Ce-Type": "x y"}), body: signup, reason: "type"},
		{name: "structured type of 5000 bytes", subject: "events.y", header: structuredMsg, body: []byte(`{"specversion":"1.0","id":"e-5k","source":"/s","type":"y.` + long(4998) + `"}`), reason: "type"},
		{name: "id with NUL", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Id": "e\x00"}), body: signup, reason: "id"},
		{name: "id of 257 bytes", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Id": long(257)}), body: signup, reason: "id"},
		{name: "id with an escape", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Id": "e\x1b[2J"}), body: signup, reason: "id"},
		{name: "source of invalid UTF-8", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Source": "/s\xff"}), body: signup, reason: "source"},
		{name: "source of 1025 bytes", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Source": "/" + long(1024)}), body: signup, reason: "source"},
		{name: "subject with a control character", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Subject": "s\x07"}), body: signup, reason: "subject"},
		{name: "extension of invalid UTF-8", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Foo": "\xff"}), body: signup, reason: "foo"},
		{name: "extension name of 100 bytes", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-" + long(100): "v"}), body: signup, reason: "extension"},
		{name: "time not a timestamp", subject: "events.user.signedup", header: binaryMsg(map[string]string{"Ce-Time": "yesterday"}), body: signup, reason: "time"},
		{name: "data breaks the schema", subject: "events.user.signedup", header: binaryMsg(nil), body: []byte(`{"user_id":"u-1"}`), reason: "email"},
		{name: "data with a bad email", subject: "events.user.signedup", header: binaryMsg(nil), body: []byte(`{"user_id":"u-1","email":"nope"}`), reason: "email"},
		{name: "data not JSON", subject: "events.user.signedup", header: binaryMsg(nil), body: []byte(`not json`), reason: "data"},
		{name: "no data", subject: "events.user.signedup", header: binaryMsg(nil), reason: "data"},
		{name: "a NATS publish condition, and a bad schema", subject: "events.user.signedup",
			header: func() nats.Header {
				h := binaryMsg(nil)
				h.Set("Nats-Expected-Stream", events.Stream)
				return h
			}(), body: []byte(`{"user_id":"u-1"}`), reason: "email"},
		{name: "near max_payload, not a CloudEvent", subject: "events.user.signedup", body: bytes.Repeat([]byte("x"), 1<<20-2048), reason: "ce-specversion"},
		{name: "same attribute twice in two cases", subject: "events.user.signedup", header: func() nats.Header {
			h := binaryMsg(nil)
			h["ce-id"] = []string{"other"}
			return h
		}(), body: signup, reason: "id"},
	}
}

// signGitHub is the X-Hub-Signature-256 GitHub sends: the HMAC-SHA256 of body under secret.
func signGitHub(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
