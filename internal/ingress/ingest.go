package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/logging"
	"github.com/flowbridge/flowbridge/internal/metrics"
)

// Routes of the contract's HTTP ingress, also the route label of the request metric.
const (
	RouteStripe = "/webhooks/stripe"
	RouteGitHub = "/webhooks/github"
	RouteEvents = "/events"
)

// DefaultMaxBodyBytes is the request body limit when IngestConfig.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxInFlight is the cap on ingest requests in flight when IngestConfig.MaxInFlight
// is zero.
const DefaultMaxInFlight = 1024

// retryAfter is the Retry-After (seconds) of a request refused over MaxInFlight.
const retryAfter = "1"

// Publisher stores an event in the EVENTS stream. Publish must return only once the
// stream has acknowledged the event, must be safe for concurrent use, and its errors
// wrap events.ErrMalformed when the event itself is at fault (any other error is
// transient). *events.Publisher is one.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (events.PublishResult, error)
}

var _ Publisher = (*events.Publisher)(nil)

// Mux is where Ingest mounts its routes: *Server and *http.ServeMux are both one.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// IngestConfig configures the ingest routes.
type IngestConfig struct {
	// StripeSecrets are the Stripe endpoint signing secrets (whsec_...); a signature made
	// with any of them is accepted, so a secret can be rotated without downtime.
	// Optional: when empty, /webhooks/stripe answers 503 and publishes nothing.
	StripeSecrets []string
	// StripeAPIKey is the Stripe API key (sk_... or rk_...) the Stripe webhook uses to ask
	// which PaymentIntent paid an invoice, where the event does not say (subscriptions;
	// invoices from API 2025-03-31.basil on). Optional: when empty, such events answer
	// 503 and are not published. StripeAPIBase is the API's URL.
	// Optional: defaults to https://api.stripe.com.
	StripeAPIKey  string
	StripeAPIBase string
	// GitHubSecrets are the GitHub webhook secrets, as StripeSecrets.
	// Optional: when empty, /webhooks/github answers 503 and publishes nothing.
	GitHubSecrets []string
	// EventsTokens are the bearer tokens POST /events accepts, each scoped to the event
	// types it may publish (list the new token beside the old one to rotate it). A request
	// without one is answered 401, an event out of its token's scope 403.
	// Optional: without tokens, /events answers 403 to everyone unless EventsOpen is set.
	EventsTokens []EventsToken
	// EventsOpen lets requests without a token publish any type but WebhookTypes on
	// POST /events: for development only (NewIngest logs a warning). A request that
	// carries a token must still bear one of EventsTokens. Optional: defaults to false.
	EventsOpen bool
	// MaxBodyBytes bounds a request body; a larger one is answered 413.
	// Optional: defaults to DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// MaxInFlight caps the ingest requests being served at once, the three routes
	// together; one more is answered 503 with Retry-After before its body is read, so that
	// a burst cannot hold more than MaxInFlight bodies in memory nor queue without bound
	// behind the stream. Optional: defaults to DefaultMaxInFlight (1024).
	MaxInFlight int
	// Now is the clock stamped on webhook events that carry no time of their own.
	// Optional: defaults to time.Now.
	Now func() time.Time
}

// Ingest serves the routes that put events into the stream: the Stripe and GitHub
// webhooks and CloudEvents over HTTP. Every route answers 202 only once the stream has
// stored every event of the request, and publishes nothing unless the whole request
// is valid.
type Ingest struct {
	pub      Publisher
	schemas  *events.Schemas
	cfg      IngestConfig
	log      zerolog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	stripeAPI *stripeAPI // nil without StripeAPIKey
	auth      eventsAuth
	inFlight  chan struct{} // a slot per request being served, MaxInFlight in all
}

// NewIngest returns the ingest routes, publishing through pub and validating event data
// against schemas. Its metrics, flowbridge_ingress_requests_total and
// flowbridge_ingress_request_duration_seconds, are registered with reg (metrics.Register:
// nil registers nothing); registering them twice on one registry is an error.
func NewIngest(pub Publisher, schemas *events.Schemas, reg prometheus.Registerer, log zerolog.Logger, cfg IngestConfig) (*Ingest, error) {
	if pub == nil || schemas == nil {
		return nil, errors.New("ingress: NewIngest needs a publisher and the schemas")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("ingress: MaxBodyBytes %d is negative: use 0 for the default (%d)", cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInFlight < 0 {
		return nil, fmt.Errorf("ingress: MaxInFlight %d is negative: use 0 for the default (%d)", cfg.MaxInFlight, DefaultMaxInFlight)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	auth, err := newEventsAuth(cfg.EventsTokens, cfg.EventsOpen)
	if err != nil {
		return nil, err
	}
	cfg.EventsTokens = nil // kept only as digests, in auth
	in := &Ingest{
		auth:     auth,
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		pub:      pub,
		schemas:  schemas,
		cfg:      cfg,
		log:      log.With().Str("component", "ingress").Logger(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowbridge_ingress_requests_total",
			Help: "HTTP ingress requests (webhooks and CloudEvents), by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowbridge_ingress_request_duration_seconds",
			Help: "Time the HTTP ingress took to answer a request (webhooks and CloudEvents: reading, checking and " +
				"publishing until the stream stored every event), by route and status code, in seconds.",
			Buckets: metrics.LatencyBuckets,
		}, []string{"route", "code"}),
	}
	if cfg.StripeAPIKey != "" {
		api, err := newStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIBase)
		if err != nil {
			return nil, err
		}
		in.stripeAPI = api
	} else if len(cfg.StripeSecrets) > 0 {
		in.log.Warn().Str(logging.FieldRoute, RouteStripe).Msg("STRIPE_API_KEY is not set: a Stripe payment whose PaymentIntent must be looked up (a subscription's) answers 503")
	}
	if err := metrics.Register(reg, in.requests, in.latency); err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	if len(cfg.StripeSecrets) == 0 {
		in.log.Warn().Str(logging.FieldRoute, RouteStripe).Msg("STRIPE_WEBHOOK_SECRET is not set: the route answers 503")
	}
	if len(cfg.GitHubSecrets) == 0 {
		in.log.Warn().Str(logging.FieldRoute, RouteGitHub).Msg("GITHUB_WEBHOOK_SECRET is not set: the route answers 503")
	}
	switch {
	case cfg.EventsOpen:
		in.log.Warn().Str(logging.FieldRoute, RouteEvents).Msg("INGRESS_EVENTS_OPEN=true: anyone who reaches the route publishes events without a token (webhook types excepted); for development only")
	case len(auth.sums) == 0:
		in.log.Warn().Str(logging.FieldRoute, RouteEvents).Msg("INGRESS_EVENTS_TOKENS is not set: the route answers 403")
	}
	return in, nil
}

// Mount adds the ingest routes to m.
func (in *Ingest) Mount(m Mux) {
	m.Handle("POST "+RouteStripe, in.handler(RouteStripe, in.stripe))
	m.Handle("POST "+RouteGitHub, in.handler(RouteGitHub, in.github))
	m.Handle("POST "+RouteEvents, in.handler(RouteEvents, in.cloudEvents))
}

// handler adapts a route to net/http: it caps the requests in flight, bounds the body,
// writes the answer as JSON, counts it and logs it.
func (in *Ingest) handler(route string, h func(r *http.Request) answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		var a answer
		overloaded := false
		select {
		case in.inFlight <- struct{}{}:
			a = in.serve(w, r, h)
		default:
			// Refused before the body is read: an overloaded ingress spends nothing on it.
			// Counted, and logged at debug only: a burst would log a line per request when
			// the ingress can least afford it.
			overloaded = true
			w.Header().Set("Retry-After", retryAfter)
			a = refusef(http.StatusServiceUnavailable,
				"the ingress is serving %d requests, its limit (INGRESS_MAX_IN_FLIGHT): retry after %s s; nothing of this request was published", cap(in.inFlight), retryAfter)
		}
		code := strconv.Itoa(a.status)
		in.requests.WithLabelValues(route, code).Inc()
		in.latency.WithLabelValues(route, code).Observe(time.Since(begin).Seconds())
		ev := in.log.Debug()
		switch {
		case a.cause != nil:
			ev = in.log.Error().Err(a.cause)
		case a.status >= 400 && !overloaded:
			ev = in.log.Warn()
		}
		switch body := a.body.(type) {
		case acceptance:
			ev = ev.Strs("ce_ids", body.IDs)
		case failure:
			ev = ev.Str("reason", body.Error)
		}
		ev.Str(logging.FieldRoute, route).Int("status", a.status).Msg("Ingress request answered")
		writeJSON(w, a.status, a.body)
	})
}

// serve runs h on r, its body bounded, and frees r's in-flight slot.
func (in *Ingest) serve(w http.ResponseWriter, r *http.Request, h func(r *http.Request) answer) answer {
	defer func() { <-in.inFlight }()
	r.Body = http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes)
	return h(r)
}

// readBody reads the whole (already bounded) request body.
func readBody(r *http.Request) ([]byte, *answer) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, nil
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		a := refusef(http.StatusRequestEntityTooLarge, "request body is over the %d-byte limit: send smaller requests (split a batch)", tooLarge.Limit)
		return nil, &a
	}
	a := refusef(http.StatusBadRequest, "read request body: %v", err)
	return nil, &a
}

// check applies, before anything is published, the rules the publisher and the bridge
// apply to an event: CloudEvents 1.0 attributes within events.CheckAttributes' bounds
// (a type that is a subject token sequence, an id of printable text, ...), data that
// satisfies its type's schema. Once it passes, Publish can only fail transiently. The
// failure names the attribute at fault, and carries the event's id only when that id is
// itself valid, so that a refusal never echoes a NUL or a kilobyte of junk.
func (in *Ingest) check(ev events.Event) *failure {
	f := &failure{ID: shownID(ev.ID())}
	var ve cloudevents.ValidationError
	var ae *events.AttributeError
	switch err := ev.Validate(); {
	case errors.As(err, &ve):
		f.Field, f.Error = describeValidation(ve)
	case err != nil:
		f.Error = err.Error()
	case ev.SpecVersion() != cloudevents.CloudEventsVersionV1:
		f.Field, f.Error = "specversion", fmt.Sprintf("specversion %q is not supported: send 1.0", ev.SpecVersion())
	default:
		switch err := events.CheckAttributes(ev); {
		case errors.As(err, &ae):
			f.Field, f.Error = ae.Attribute, err.Error()
		case err != nil:
			f.Error = err.Error()
		default:
			if err := in.schemas.Validate(ev); err != nil {
				f.Field, f.Error = "data", err.Error()
			} else {
				return nil
			}
		}
	}
	return f
}

// describeValidation lists the SDK's per-attribute errors in a stable order.
func describeValidation(ve cloudevents.ValidationError) (fields, msg string) {
	names := make([]string, 0, len(ve))
	for name := range ve {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + ": " + clip(ve[name].Error(), 200)
	}
	return strings.Join(names, ","), "malformed event: " + strings.Join(parts, "; ")
}

// clip cuts s after n bytes (at a character boundary): the SDK's messages quote the
// value they refused, which may be kilobytes long.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// store publishes evs, already checked, in order and answers 202 once the stream has
// acknowledged every one of them.
//
// If the stream fails part-way the answer is 503 although the events before the failure
// are stored: the sender retries the whole request, and the stream drops those as
// duplicates of their id (Nats-Msg-Id), so each event is still stored once.
func (in *Ingest) store(ctx context.Context, evs ...events.Event) answer {
	ids := make([]string, 0, len(evs))
	var dups []string
	for i, ev := range evs {
		res, err := in.pub.Publish(ctx, ev)
		switch {
		case errors.Is(err, events.ErrMalformed):
			// check admitted what the encoder refused: their rules have drifted apart.
			a := refuse(http.StatusBadRequest, failure{Error: err.Error(), ID: ev.ID()})
			a.cause = err
			return a
		case err != nil:
			a := refusef(http.StatusServiceUnavailable,
				"the event stream could not store event %s (%d of %d stored): retry the request; events already stored are dropped as duplicates by id",
				ev.ID(), i, len(evs))
			a.cause = err
			return a
		}
		ids = append(ids, ev.ID())
		if res.Duplicate {
			dups = append(dups, ev.ID())
		}
	}
	return accepted(ids, dups)
}

// shownID is id when a refusal may echo it (a valid event id), else "": a refusal never
// echoes a NUL or a kilobyte of junk.
func shownID(id string) string {
	if events.CheckID(id) == nil {
		return id
	}
	return ""
}

// newEvent starts a CloudEvent for a webhook: spec 1.0, JSON data.
func newEvent(id, typ, source string, when time.Time, data []byte) events.Event {
	ev := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	ev.SetTime(when.UTC())
	ev.SetDataContentType(cloudevents.ApplicationJSON)
	ev.DataEncoded = data
	return ev
}
