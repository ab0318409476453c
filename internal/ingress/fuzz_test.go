package ingress_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/ingress"
	"github.com/flowbridge/flowbridge/schemas"
)

// encodingPublisher stands in for the stream in fuzz targets (a round trip to NATS per
// input would make fuzzing a hundred times slower): it runs the real encoder on every
// event and keeps what it refused, so a target can fail when the ingress's checks let
// through an event the stream binding cannot carry.
type encodingPublisher struct {
	mu      sync.Mutex
	refused []error
	stored  []events.Event
}

func (p *encodingPublisher) Publish(_ context.Context, ev events.Event) (events.PublishResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := events.Encode(ev); err != nil {
		p.refused = append(p.refused, err)
		return events.PublishResult{}, err
	}
	p.stored = append(p.stored, ev)
	return events.PublishResult{Sequence: uint64(len(p.stored))}, nil
}

func (p *encodingPublisher) take() (refused []error, stored []events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	refused, stored = p.refused, p.stored
	p.refused, p.stored = nil, nil
	return refused, stored
}

const (
	fuzzToken         = "fuzz-token"
	fuzzStripeSecret  = "whsec_fuzz"
	fuzzGitHubSecret  = "github-fuzz"
	fuzzClosedAPIBase = "http://127.0.0.1:1" // Stripe lookups fail fast: answered 503
)

// fuzzIngress is the ingest routes on a public server, publishing to an encodingPublisher.
func fuzzIngress(f *testing.F) (http.Handler, *encodingPublisher) {
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		f.Fatal(err)
	}
	pub := &encodingPublisher{}
	in, err := ingress.NewIngest(pub, sch, nil, zerolog.Nop(), ingress.IngestConfig{
		StripeSecrets: []string{fuzzStripeSecret}, StripeAPIKey: "sk_test_fuzz", StripeAPIBase: fuzzClosedAPIBase,
		GitHubSecrets: []string{fuzzGitHubSecret},
		EventsTokens:  []ingress.EventsToken{{Token: fuzzToken, Types: []string{">", "stripe.>", "github.>", "blueprint.pushed"}}},
	})
	if err != nil {
		f.Fatal(err)
	}
	srv := ingress.New(ingress.Config{}, zerolog.Nop())
	in.Mount(srv)
	return srv.Handler(), pub
}

// checkAnswer holds one answer of the ingress to the rules every door keeps: a JSON body,
// an error in every refusal, 202 only for what was stored, and every stored event within
// bounds and its schema.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, pub *encodingPublisher, sch *events.Schemas) {
	t.Helper()
	refused, stored := pub.take()
	if len(refused) > 0 {
		t.Fatalf("the ingress passed an event the encoder refuses: %v", refused[0])
	}
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d with Content-Type %q: %s", rec.Code, ct, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v: %s", rec.Code, err, rec.Body)
	}
	if rec.Code >= 400 {
		if msg, _ := body["error"].(string); msg == "" {
			t.Fatalf("status %d without an error: %s", rec.Code, rec.Body)
		}
		if len(stored) > 0 {
			t.Fatalf("status %d, yet %d events were stored", rec.Code, len(stored))
		}
		return
	}
	for _, ev := range stored {
		if err := events.CheckAttributes(ev); err != nil {
			t.Fatalf("stored an event out of bounds: %v", err)
		}
		if err := sch.Validate(ev); err != nil {
			t.Fatalf("stored an event that breaks its schema: %v", err)
		}
	}
}

func fuzzSchemas(f *testing.F) *events.Schemas {
	sch, err := events.LoadSchemas(schemas.FS)
	if err != nil {
		f.Fatal(err)
	}
	return sch
}

// FuzzCloudEventsHTTP posts arbitrary CloudEvents requests (binary, structured and batch
// mode, whatever the headers say) to POST /events.
func FuzzCloudEventsHTTP(f *testing.F) {
	h, pub := fuzzIngress(f)
	sch := fuzzSchemas(f)
	seeds := []struct{ contentType, headers, body string }{
		{"application/cloudevents+json", "", `{"specversion":"1.0","id":"e-1","type":"user.signedup","source":"/t","data":{"user_id":"u1","email":"a@example.com"}}`},
		{"application/cloudevents-batch+json", "", `[{"specversion":"1.0","id":"e-2","type":"email.verified","source":"/t","data":{"user_id":"u1"}}]`},
		{"application/json", "ce-specversion: 1.0\nce-id: e-3\nce-type: email.verified\nce-source: %2Ft", `{"user_id":"u1"}`},
		{"application/json", "ce-specversion: 1.0\nce-id: e%00\nce-type: " + strings.Repeat("x", 300) + "\nce-source: /t", `{}`},
		{"application/cloudevents+json", "", `{"specversion":"1.0","id":"e-4","type":"stripe.paid","source":"/t","data":{}}`},
		{"application/cloudevents-batch+json", "", `[]`},
		{"text/plain", "", "hello"},
		{"application/cloudevents+json", "", `{"specversion":"1.0","id":"e","type":"a.b","source":"/t","data_base64":"!!"}`},
	}
	for _, s := range seeds {
		f.Add(s.contentType, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType, headers string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, ingress.RouteEvents, bytes.NewReader(body))
		for _, line := range strings.Split(headers, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			if k != "" && validHeader(k, v) {
				req.Header.Add(k, v)
			}
		}
		if validHeader("Content-Type", contentType) {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+fuzzToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, pub, sch)
	})
}

// FuzzStripeWebhook posts arbitrary bodies, correctly signed, to the Stripe webhook, so
// that the fuzzer reaches the mapping of Stripe events onto stripe.paid.
func FuzzStripeWebhook(f *testing.F) {
	h, pub := fuzzIngress(f)
	sch := fuzzSchemas(f)
	for _, s := range []string{
		`{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1","customer":"cus_1","currency":"eur","amount_received":100}}}`,
		`{"id":"evt_2","type":"checkout.session.completed","data":{"object":{"id":"cs_1","payment_status":"paid","customer":{"id":"cus_1"},"payment_intent":null,"invoice":"in_1","currency":"usd","amount_total":5}}}`,
		`{"id":"evt_3","type":"invoice.paid","data":{"object":{"id":"in_1","customer":"cus_1","currency":"usd","amount_paid":5,"lines":{"data":[{"amount":5,"quantity":1}]},"payments":{"data":[{"payment":{"payment_intent":"pi_1"}}]}}}}`,
		`{"id":"evt_4","type":"customer.created","data":{"object":{"id":"cus_1"}}}`,
		`{"id":"","type":"x","data":{"object":null}}`,
		`{"id":"evt_5","type":"invoice.paid","data":{"object":{"id":"in_2","customer":7,"payments":{"data":[{"payment":{"payment_intent":{"id":3}}}]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ts := time.Now().Unix()
		mac := hmac.New(sha256.New, []byte(fuzzStripeSecret))
		mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
		req := httptest.NewRequest(http.MethodPost, ingress.RouteStripe, bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", "t="+strconv.FormatInt(ts, 10)+",v1="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, pub, sch)
	})
}

// FuzzGitHubWebhook posts arbitrary deliveries, correctly signed, to the GitHub webhook,
// so that the fuzzer reaches the mapping of pushes onto blueprint.pushed.
func FuzzGitHubWebhook(f *testing.F) {
	h, pub := fuzzIngress(f)
	sch := fuzzSchemas(f)
	for _, s := range []struct{ event, delivery, body string }{
		{"push", "d-1", `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"acme/app","clone_url":"https://github.com/acme/app.git"},"pusher":{"name":"a"},"head_commit":{"message":"m"}}`},
		{"push", "d-2", `{"ref":"refs/tags/v1","after":"0123","repository":{"full_name":"acme/app"}}`},
		{"push", "d-3", `{"ref":"refs/heads/x","deleted":true,"after":"0000000000000000000000000000000000000000","head_commit":null}`},
		{"ping", "d-4", `{"zen":"z"}`},
		{"pull_request", "d-5", `{"action":"opened","repository":{"full_name":"acme/app"}}`},
		{"bad event", "d\x00", `[]`},
	} {
		f.Add(s.event, s.delivery, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, event, delivery string, body []byte) {
		mac := hmac.New(sha256.New, []byte(fuzzGitHubSecret))
		mac.Write(body)
		req := httptest.NewRequest(http.MethodPost, ingress.RouteGitHub, bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("Content-Type", "application/json")
		if validHeader("X-GitHub-Event", event) {
			req.Header.Set("X-GitHub-Event", event)
		}
		if validHeader("X-GitHub-Delivery", delivery) {
			req.Header.Set("X-GitHub-Delivery", delivery)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, pub, sch)
	})
}

// validHeader reports whether a client could send this header at all (a token name, a
// value without control characters but tab): the server never sees one it could not, so
// the fuzz targets leave the others out.
func validHeader(k, v string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	for _, r := range v {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}
