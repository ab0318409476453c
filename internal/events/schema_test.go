package events_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/schemas"
)

// contractTypes are the event types docs/CONTRACT.md names: the ones the bridge routes and
// the result events activities emit. Every one must have a schema.
var contractTypes = []string{
	"user.signedup", "email.verified", "stripe.paid", "blueprint.pushed", "connector.sync.requested",
	"email.verification_sent", "tenant.created", "billing.ready", "onboarding.completed",
	"onboarding.expired", "payment.recorded", "invoice.sent", "payment.processed",
	"deploy.started", "deploy.succeeded", "deploy.failed", "connector.synced", "report.daily",
}

func loadSchemas(t *testing.T) *events.Schemas {
	t.Helper()
	s, err := events.LoadSchemas(schemas.FS)
	require.NoError(t, err)
	return s
}

// rawEvent is an event whose data is exactly raw (nil: no data).
func rawEvent(typ string, raw []byte) events.Event {
	ev := cloudevents.New()
	ev.SetID("ev-1")
	ev.SetType(typ)
	ev.SetSource("/test")
	if raw != nil {
		ev.SetDataContentType("application/json")
		ev.DataEncoded = raw
	}
	return ev
}

func TestLoadSchemasLoadsEveryFile(t *testing.T) {
	s := loadSchemas(t)

	files, err := fs.Glob(schemas.FS, "*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	want := make([]string, 0, len(files))
	for _, f := range files {
		want = append(want, strings.TrimSuffix(f, ".json"))
	}
	got := s.Types()
	require.Equal(t, want, got, "got %v, want %v", got, want)

	for _, typ := range contractTypes {
		require.True(t, s.Has(typ), "the contract's type %s has no schema in schemas/", typ)
	}
	require.False(t, s.Has("no.such.type"))
}

func TestValidate(t *testing.T) {
	s := loadSchemas(t)
	tests := []struct {
		name    string
		typ     string
		data    []byte // nil: the event has no data
		wantErr []string
	}{
		{name: "user.signedup", typ: "user.signedup", data: []byte(`{"user_id":"u-1","email":"ada@example.com"}`)},
		{name: "user.signedup with name", typ: "user.signedup", data: []byte(`{"user_id":"u-1","email":"ada@example.com","name":"Ada"}`)},
		{name: "email.verified", typ: "email.verified", data: []byte(`{"user_id":"u-1"}`)},
		{name: "stripe.paid", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":4200,"currency":"eur"}`)},
		{name: "stripe.paid with line items", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":0,"currency":"usd","email":"a@b.io","line_items":[{"description":"seat","amount":100,"quantity":2}]}`)},
		{name: "blueprint.pushed", typ: "blueprint.pushed", data: []byte(`{"repository":"acme/blueprints","clone_url":"https://github.com/acme/blueprints.git","ref":"refs/heads/main","commit_sha":"0123456789abcdef0123456789abcdef01234567"}`)},
		{name: "connector.sync.requested", typ: "connector.sync.requested", data: []byte(`{"connector_id":"c-9"}`)},
		{name: "type without schema", typ: "something.unknown", data: []byte(`not even json`)},
		{name: "type without schema and no data", typ: "something.unknown"},

		{name: "missing user_id", typ: "user.signedup", data: []byte(`{"email":"ada@example.com"}`), wantErr: []string{"user.signedup", "user_id"}},
		{name: "empty user_id", typ: "email.verified", data: []byte(`{"user_id":""}`), wantErr: []string{"/user_id"}},
		{name: "user_id not a string", typ: "user.signedup", data: []byte(`{"user_id":42,"email":"ada@example.com"}`), wantErr: []string{"/user_id", "want string"}},
		{name: "bad email format", typ: "user.signedup", data: []byte(`{"user_id":"u-1","email":"not-an-email"}`), wantErr: []string{"/email", "email"}},
		{name: "amount is a string", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":"42.00","currency":"eur"}`), wantErr: []string{"/amount", "want integer"}},
		{name: "amount is fractional", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":42.5,"currency":"eur"}`), wantErr: []string{"/amount"}},
		{name: "negative amount", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":-1,"currency":"eur"}`), wantErr: []string{"/amount"}},
		{name: "upper case currency", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1","customer_id":"cus_1","amount":1,"currency":"EUR"}`), wantErr: []string{"/currency"}},
		{name: "several missing fields", typ: "stripe.paid", data: []byte(`{"payment_id":"pi_1"}`), wantErr: []string{"customer_id", "amount", "currency"}},
		{name: "bad commit sha", typ: "blueprint.pushed", data: []byte(`{"repository":"acme/blueprints","clone_url":"u","ref":"refs/heads/main","commit_sha":"HEAD"}`), wantErr: []string{"/commit_sha"}},
		{name: "missing connector_id", typ: "connector.sync.requested", data: []byte(`{}`), wantErr: []string{"connector_id"}},
		{name: "data is an array", typ: "email.verified", data: []byte(`[{"user_id":"u-1"}]`), wantErr: []string{"want object"}},
		{name: "data not JSON", typ: "user.signedup", data: []byte(`user_id=u-1`), wantErr: []string{"user.signedup data is not JSON"}},
		{name: "no data", typ: "user.signedup", wantErr: []string{"user.signedup has no data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(rawEvent(tt.typ, tt.data))
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, events.ErrSchema), "got %v, want it to wrap ErrSchema", err)
			for _, sub := range tt.wantErr {
				require.Contains(t, err.Error(), sub)
			}
		})
	}
}

func TestLoadSchemasRejectsBrokenSchemas(t *testing.T) {
	const good = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["id"]}`
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{
			name:    "not JSON",
			fsys:    fstest.MapFS{"good.type.json": {Data: []byte(good)}, "broken.type.json": {Data: []byte(`{"type": "object",`)}},
			wantErr: "broken.type.json",
		},
		{
			name:    "not a schema",
			fsys:    fstest.MapFS{"broken.type.json": {Data: []byte(`{"type": 5}`)}},
			wantErr: "broken.type",
		},
		{
			name:    "bad pattern",
			fsys:    fstest.MapFS{"broken.type.json": {Data: []byte(`{"type":"string","pattern":"("}`)}},
			wantErr: "broken.type",
		},
		{
			name:    "dangling ref",
			fsys:    fstest.MapFS{"broken.type.json": {Data: []byte(`{"$ref":"missing.json"}`)}},
			wantErr: "broken.type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := events.LoadSchemas(tt.fsys)
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestLoadSchemasFromMapFS(t *testing.T) {
	fsys := fstest.MapFS{
		"order.placed.json": {Data: []byte(`{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`)},
		"README.md":         {Data: []byte("not a schema")},
		"nested/x.json":     {Data: []byte(`{"type": 5}`)}, // only the root is read
	}
	s, err := events.LoadSchemas(fsys)
	require.NoError(t, err)
	require.Equal(t, []string{"order.placed"}, s.Types())
	require.NoError(t, s.Validate(rawEvent("order.placed", []byte(`{"order_id":"o-1"}`))))
	err = s.Validate(rawEvent("order.placed", []byte(`{}`)))
	require.ErrorIs(t, err, events.ErrSchema)
	require.Contains(t, err.Error(), "order_id")
}

// TestDecodeData: numbers stay exact, and what is not one JSON value says why.
func TestDecodeData(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    any
		wantErr string
	}{
		{name: "empty", raw: "", want: nil},
		{name: "object with exact numbers", raw: `{"n": 12345678901234567890, "f": 1e6}`,
			want: map[string]any{"n": json.Number("12345678901234567890"), "f": json.Number("1e6")}},
		{name: "surrounding space", raw: " [1, \"a\"] \n", want: []any{json.Number("1"), "a"}},
		{name: "not JSON", raw: "user_id=u-1", wantErr: "invalid character"},
		{name: "two values", raw: `{} {}`, wantErr: "invalid character after top-level value"},
		{name: "trailing garbage", raw: `{}x`, wantErr: "invalid character after top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := events.DecodeData([]byte(tt.raw))
			if tt.wantErr != "" {
				require.Error(t, d.Err)
				require.Contains(t, d.Err.Error(), tt.wantErr)
				require.Nil(t, d.Value)
				return
			}
			require.NoError(t, d.Err)
			require.Equal(t, tt.want, d.Value, "got %v, want %v", d.Value, tt.want)
		})
	}
}

// TestValidateDataReadsTheDecodedValue: ValidateData validates the value it is given,
// decoded once by the caller, and does not decode the bytes again.
func TestValidateDataReadsTheDecodedValue(t *testing.T) {
	s := loadSchemas(t)
	raw := []byte(`{"user_id":"u-1","email":"u-1@example.com"}`)
	require.NoError(t, s.ValidateData("user.signedup", events.DecodeData(raw)))
	err := s.ValidateData("user.signedup", events.Data{Raw: raw, Value: map[string]any{"email": "u-1@example.com"}})
	require.ErrorIs(t, err, events.ErrSchema)
	require.Contains(t, err.Error(), "user_id")
	err = s.ValidateData("user.signedup", events.Data{Raw: []byte("x"), Err: errors.New("invalid character 'x'")})
	require.ErrorIs(t, err, events.ErrSchema)
	require.Contains(t, err.Error(), "user.signedup data is not JSON: invalid character 'x'")
	require.NoError(t, s.ValidateData("no.schema", events.Data{Raw: []byte("x"), Err: errors.New("x")}), "a type without a schema passes")
}
