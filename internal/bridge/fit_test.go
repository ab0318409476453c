package bridge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// fitDeadLetter keeps what fits under the limit: whole when it can, else the headers
// flowbridge adds always, original headers up to maxKeptHeader, the smaller ones first,
// and as much of the body as is left.
func TestFitDeadLetter(t *testing.T) {
	const limit = 8 << 10
	added := func(h nats.Header) nats.Header {
		dl := nats.Header{}
		for k, vs := range h {
			dl[k] = vs
		}
		dl.Set(events.HeaderError, "data: missing property 'email'")
		dl.Set(events.HeaderStreamSeq, "42")
		dl.Set(events.HeaderFailedAt, "2026-03-01T12:00:00Z")
		dl.Set(events.HeaderMsgID, "evt-1")
		dl.Set(jetstream.ExpectedStreamHeader, events.DLQStream)
		return dl
	}
	ce := nats.Header{"ce-id": {"evt-1"}, "ce-type": {"user.signedup"}, "ce-source": {"/tests"}, "ce-specversion": {"1.0"}}
	many := nats.Header{"ce-id": {"evt-1"}}
	for i := range 400 {
		many.Set(fmt.Sprintf("X-H%03d", i), strings.Repeat("v", 10+i%20))
	}
	tests := []struct {
		name        string
		orig        nats.Header
		body        int
		wantCut     bool
		wantBody    int // -1: whatever is left
		wantDropped []string
		wantKept    []string
	}{
		{name: "fits", orig: ce, body: 1000, wantBody: 1000, wantKept: []string{"ce-id", "ce-type"}},
		{name: "body too long", orig: ce, body: limit, wantCut: true, wantBody: -1, wantKept: []string{"ce-id", "ce-type", "ce-source"}},
		{name: "a header over 1 KiB", orig: with(ce, "X-Blob", strings.Repeat("b", 8<<10)), body: 100, wantCut: true, wantBody: 100,
			wantDropped: []string{"X-Blob"}, wantKept: []string{"ce-id", "ce-type"}},
		{name: "headers alone too many", orig: many, body: 100, wantCut: true, wantBody: 100, wantKept: []string{"ce-id", "X-H000"},
			wantDropped: []string{"X-H019"}},
		{name: "too many headers and a long body", orig: many, body: limit, wantCut: true, wantBody: -1, wantKept: []string{"ce-id", "X-H000"},
			wantDropped: []string{"X-H019"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(strings.Repeat("d", tt.body))
			dl := nats.NewMsg("dlq.events.user.signedup")
			dl.Header = added(tt.orig)
			got, cut := fitDeadLetter(dl, tt.orig, body, limit)
			require.Equal(t, tt.wantCut, cut)
			size := headerSize(got.Header) + len(got.Data)
			require.LessOrEqual(t, size, limit)
			require.Equal(t, size, got.Size()-len(got.Subject), "headerSize counts as nats.go does")
			if tt.wantBody >= 0 {
				require.Len(t, got.Data, tt.wantBody)
			} else {
				require.Greater(t, len(got.Data), limit/4, "as much of the body as fits")
			}
			for _, k := range []string{events.HeaderError, events.HeaderStreamSeq, events.HeaderFailedAt, events.HeaderMsgID} {
				require.NotEmpty(t, got.Header.Get(k), "header %s is always kept", k)
			}
			for _, k := range tt.wantKept {
				require.NotEmpty(t, got.Header.Get(k), "header %s kept", k)
			}
			note := got.Header.Get(events.HeaderTruncated)
			if !cut {
				require.Empty(t, note)
				return
			}
			require.Contains(t, note, fmt.Sprintf("original %d bytes (headers %d, body %d)", headerSize(tt.orig)+tt.body, headerSize(tt.orig), tt.body))
			require.Contains(t, note, fmt.Sprintf("body cut to %d bytes", len(got.Data)))
			for _, k := range tt.wantDropped {
				require.Empty(t, got.Header.Get(k), "header %s dropped", k)
				require.Contains(t, note, k)
			}
			require.LessOrEqual(t, len(note), truncatedReserve-len(events.HeaderTruncated)-4)
		})
	}
}

func with(h nats.Header, k, v string) nats.Header {
	out := nats.Header{}
	for hk, vs := range h {
		out[hk] = vs
	}
	out.Set(k, v)
	return out
}

func TestOneLine(t *testing.T) {
	got := oneLine("bad id \"a\x00b\"\r\nsecond line\x1b[31m \xff" + strings.Repeat("é", 600))
	require.True(t, strings.HasPrefix(got, "bad id \"a b\"; second line [31m \uFFFD"), "got %q", got)
	require.LessOrEqual(t, len(got), 1024+len("..."))
	require.True(t, strings.HasSuffix(got, "é..."), "cut between characters: %q", got[len(got)-10:])
}
