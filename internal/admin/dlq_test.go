package admin

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runBridge runs `bridge args...` with NATS_URL set to url.
func runBridge(t *testing.T, url string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	getenv := func(k string) string {
		if k == "NATS_URL" {
			return url
		}
		return ""
	}
	err = Run(testCtx(t), IO{Stdout: &o, Stderr: &e, Getenv: getenv}, args)
	t.Logf("bridge %s\n%s%s(err: %v)", strings.Join(args, " "), o.String(), e.String(), err)
	return o.String(), e.String(), err
}

// storeDeadLetter stores a dead letter the way the bridge does and returns its sequence.
func storeDeadLetter(t *testing.T, js jetstream.JetStream, typ, id, reason string, body []byte) uint64 {
	t.Helper()
	m := nats.NewMsg(events.DLQSubject(typ))
	if id != "" {
		m.Header.Set("ce-specversion", "1.0")
		m.Header.Set("ce-id", id)
		m.Header.Set("ce-type", typ)
		m.Header.Set("ce-source", "/tests")
		m.Header.Set("Content-Type", "application/json")
		m.Header.Set(events.HeaderMsgID, id)
	} else {
		m.Header.Set(events.HeaderMsgID, testenv.ID("EVENTS-"))
	}
	m.Header.Set(events.HeaderError, reason)
	m.Header.Set(events.HeaderStreamSeq, "3")
	m.Data = body
	ack, err := js.PublishMsg(testCtx(t), m, jetstream.WithExpectStream(events.DLQStream))
	require.NoError(t, err)
	return ack.Sequence
}

// rowRE matches one row of the ls table.
func rowRE(seq uint64, typ, id, reason string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+%s\s+%s\s+%s$`,
		seq, regexp.QuoteMeta(typ), regexp.QuoteMeta(id), regexp.QuoteMeta(reason)))
}

// rowSeqRE finds the sequence of each row of the ls table.
var rowSeqRE = regexp.MustCompile(`(?m)^(\d+)\s+\d{4}-\d\d-\d\dT`)

func TestDLQCommand(t *testing.T) {
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 10*time.Minute))
	longReason := "signal email-verified: workflow onboarding-u1 did not exist 10m0s after the event was stored (BRIDGE_SIGNAL_WAIT)\nsecond line"
	verified := storeDeadLetter(t, n.JS, "email.verified", "e-1", longReason, []byte(`{"user_id":"u1"}`))
	signup := storeDeadLetter(t, n.JS, "user.signedup", "e-2", "malformed event: /: missing property 'email'", []byte(`{"user_id":"u2"}`))
	unknown := storeDeadLetter(t, n.JS, "", "", "malformed event: no ce-specversion header", []byte("\x00\x01garbage"))
	truncated := "signal email-verified: workflow onboarding-u1 did not exist 10m0s after…"

	t.Run("ls prints a table", func(t *testing.T) {
		out, _, err := runBridge(t, n.URL, "dlq", "ls")
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Regexp(t, `^SEQ\s+STORED AT\s+TYPE\s+CE ID\s+REASON$`, lines[0])
		require.Regexp(t, rowRE(verified, "email.verified", "e-1", truncated), out)
		require.Regexp(t, rowRE(signup, "user.signedup", "e-2", "malformed event: /: missing property 'email'"), out)
		require.Regexp(t, rowRE(unknown, "unknown", "-", "malformed event: no ce-specversion header"), out)
		require.Equal(t, "3 dead letters. `bridge dlq show SEQ` shows one in full.", lines[len(lines)-1])
	})

	tests := []struct {
		name     string
		args     []string
		rows     []uint64
		contains string
	}{
		{name: "type", args: []string{"--type", "email.verified"}, rows: []uint64{verified}},
		{name: "type unknown", args: []string{"--type=unknown"}, rows: []uint64{unknown}},
		{name: "reason", args: []string{"--reason", "MALFORMED"}, rows: []uint64{signup, unknown}},
		{name: "since a duration", args: []string{"--since", "1h"}, rows: []uint64{verified, signup, unknown}},
		{name: "since days", args: []string{"--since", "7d"}, rows: []uint64{verified, signup, unknown}},
		{name: "until a time", args: []string{"--until", "2000-01-01T00:00:00Z"}, contains: "No dead letters match."},
		{name: "limit", args: []string{"--limit", "2"}, rows: []uint64{verified, signup}, contains: "The first 2; there are more"},
		{name: "limit exactly", args: []string{"--limit", "3"}, rows: []uint64{verified, signup, unknown}, contains: "3 dead letters."},
	}
	for _, tt := range tests {
		t.Run("ls "+tt.name, func(t *testing.T) {
			out, _, err := runBridge(t, n.URL, append([]string{"dlq", "ls"}, tt.args...)...)
			require.NoError(t, err)
			var got []uint64
			for _, m := range rowSeqRE.FindAllStringSubmatch(out, -1) {
				seq, err := strconv.ParseUint(m[1], 10, 64)
				require.NoError(t, err)
				got = append(got, seq)
			}
			require.Equal(t, tt.rows, got)
			require.Contains(t, out, tt.contains)
		})
	}

	t.Run("show", func(t *testing.T) {
		out, _, err := runBridge(t, n.URL, "dlq", "show", fmt.Sprint(signup))
		require.NoError(t, err)
		for _, want := range []string{
			fmt.Sprintf("Dead letter %d on EVENTS_DLQ", signup),
			"subject:    dlq.events.user.signedup",
			"ce id:      e-2",
			"reason:     malformed event: /: missing property 'email'",
			"  ce-id: e-2\n",
			"  Flowbridge-Error: malformed event: /: missing property 'email'\n",
			"  Nats-Msg-Id: e-2\n",
			"Body (16 bytes):\n  {\n    \"user_id\": \"u2\"\n  }\n",
		} {
			require.Contains(t, out, want)
		}
		out, _, err = runBridge(t, n.URL, "dlq", "show", fmt.Sprint(unknown))
		require.NoError(t, err)
		require.Contains(t, out, "00000000  00 01 67 61", "a binary body as a hex dump")
	})

	t.Run("replay dry run", func(t *testing.T) {
		out, _, err := runBridge(t, n.URL, "dlq", "replay", "--dry-run")
		require.NoError(t, err)
		require.Regexp(t, fmt.Sprintf(`(?m)^%d\s+email.verified\s+e-1\s+events.email.verified\s+replay-%d-e-1\s+-$`, verified, verified), out)
		require.Regexp(t, fmt.Sprintf(`(?m)^%d\s+unknown\s+-\s+its event type could not be read`, unknown), out)
		require.Contains(t, out, "Dry run: would replay 2 dead letters and skip 1. Nothing was changed.")
		ls, _, err := runBridge(t, n.URL, "dlq", "ls")
		require.NoError(t, err)
		require.Contains(t, ls, "3 dead letters.")
	})

	t.Run("replay", func(t *testing.T) {
		out, stderr, err := runBridge(t, n.URL, "dlq", "replay", "--type", "email.verified")
		require.NoError(t, err)
		require.Contains(t, out, "Replayed 1 dead letter: back on EVENTS, gone from EVENTS_DLQ; skipped 0.")
		require.Empty(t, stderr, "no progress bar off a terminal")
		s, err := n.JS.Stream(testCtx(t), events.Stream)
		require.NoError(t, err)
		m, err := s.GetLastMsgForSubject(testCtx(t), "events.email.verified")
		require.NoError(t, err)
		require.Equal(t, "e-1", m.Header.Get("ce-id"))
		ls, _, err := runBridge(t, n.URL, "dlq", "ls")
		require.NoError(t, err)
		require.NotRegexp(t, fmt.Sprintf(`(?m)^%d\s`, verified), ls)
	})

	t.Run("purge", func(t *testing.T) {
		_, _, err := runBridge(t, n.URL, "dlq", "purge", "--type", "unknown")
		require.ErrorIs(t, err, ErrUsage)
		require.ErrorContains(t, err, "add --yes")

		out, _, err := runBridge(t, n.URL, "dlq", "purge", "--type", "unknown", "--dry-run")
		require.NoError(t, err)
		require.Regexp(t, rowRE(unknown, "unknown", "-", "malformed event: no ce-specversion header"), out)
		require.Contains(t, out, "Dry run: would delete 1 dead letter. Nothing was changed.")

		out, _, err = runBridge(t, n.URL, "dlq", "purge", "--type", "unknown", "--yes")
		require.NoError(t, err)
		require.Contains(t, out, "Deleted 1 dead letter from EVENTS_DLQ.")
		ls, _, err := runBridge(t, n.URL, "dlq", "ls")
		require.NoError(t, err)
		require.Contains(t, ls, "1 dead letter.")
	})
}

func TestDLQCommandErrors(t *testing.T) {
	bare := testenv.StartNATS(t) // no streams: the bridge never ran against it
	withStreams := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), withStreams.JS, time.Minute))

	tests := []struct {
		name  string
		url   string
		args  []string
		usage bool
		want  string
	}{
		{name: "no stream", url: bare.URL, args: []string{"ls"}, want: "no EVENTS_DLQ stream at NATS_URL " + bare.URL + ": has the bridge run?"},
		{name: "no stream for show", url: bare.URL, args: []string{"show", "1"}, want: "no EVENTS_DLQ stream at NATS_URL"},
		{name: "no server", url: "nats://127.0.0.1:1", args: []string{"ls"}, want: "connect to NATS at nats://127.0.0.1:1 (NATS_URL)"},
		{name: "missing dead letter", url: withStreams.URL, args: []string{"show", "42"}, want: "dead letter not found: EVENTS_DLQ has no sequence 42"},
		{name: "show without seq", url: withStreams.URL, args: []string{"show"}, usage: true, want: "one sequence number (the SEQ column of `bridge dlq ls`), got nothing"},
		{name: "show a word", url: withStreams.URL, args: []string{"show", "abc"}, usage: true, want: `got "abc"`},
		{name: "unknown subcommand", url: withStreams.URL, args: []string{"rm"}, usage: true, want: `unknown command "rm" for "bridge dlq"`},
		{name: "bad flag", url: withStreams.URL, args: []string{"ls", "--nope"}, usage: true, want: "unknown flag: --nope"},
		{name: "positional type", url: withStreams.URL, args: []string{"ls", "email.verified"}, usage: true, want: "a type goes in --type"},
		{name: "bad since", url: withStreams.URL, args: []string{"replay", "--since", "yesterday"}, usage: true, want: `--since "yesterday": want a duration ago`},
		{name: "since after until", url: withStreams.URL, args: []string{"ls", "--since", "1h", "--until", "2h"}, usage: true, want: "is not before until"},
		{name: "bad type", url: withStreams.URL, args: []string{"purge", "--type", "a b", "--yes"}, usage: true, want: "dot-separated tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runBridge(t, tt.url, append([]string{"dlq"}, tt.args...)...)
			require.Error(t, err)
			require.ErrorContains(t, err, tt.want)
			if tt.usage {
				require.ErrorIs(t, err, ErrUsage)
			}
		})
	}
}

func TestDLQHelp(t *testing.T) {
	for _, args := range [][]string{{"dlq"}, {"dlq", "help"}, {"dlq", "ls", "-h"}} {
		out, stderr, err := runBridge(t, "nats://127.0.0.1:1", args...)
		require.NoError(t, err, "bridge %v", args)
		require.Contains(t, out, "Usage:\n  bridge dlq")
		require.Empty(t, stderr, "help goes to stdout")
	}
	out, _, err := runBridge(t, "", "help")
	require.NoError(t, err)
	require.Regexp(t, `dlq\s+list, show, replay and purge dead letters`, out)
}

func TestDLQProgress(t *testing.T) {
	require.Equal(t, "replay [..........]  0/10", dlqBar("replay", 0, 10, 10))
	require.Equal(t, "replay [#####.....]  5/10", dlqBar("replay", 5, 10, 10))
	require.Equal(t, "replay [##########] 10/10", dlqBar("replay", 10, 10, 10))

	var w bytes.Buffer
	p := newDLQProgress(&w, "replay", true)
	for done := range 4 {
		p.update(done, 3)
	}
	p.finish()
	require.True(t, strings.HasPrefix(w.String(), "\rreplay ["), w.String())
	require.True(t, strings.HasSuffix(w.String(), "\rreplay [##############################] 3/3\n"), "the last frame is always drawn: %q", w.String())

	w.Reset()
	off := newDLQProgress(&w, "replay", false)
	off.update(1, 3)
	off.finish()
	require.Empty(t, w.String(), "nothing off a terminal")
	require.False(t, IO{}.Terminal(&w))
}

// A dead letter holds whatever its publisher sent: `dlq ls` and `dlq show` escape control
// characters (a terminal escape sequence in an id, say) instead of writing them to the
// operator's terminal.
func TestDLQCommandEscapesWhatPublishersSent(t *testing.T) {
	n := testenv.StartNATS(t)
	require.NoError(t, events.EnsureStreams(testCtx(t), n.JS, 10*time.Minute))
	seq := storeDeadLetter(t, n.JS, "user.signedup", "evil\x1b[2J\x07id", "reason with \x1b]0;title\x07 escape", []byte(`{}`))

	out, _, err := runBridge(t, n.URL, "dlq", "ls")
	require.NoError(t, err)
	require.Contains(t, out, `evil\x1b[2J\x07id`, "ls shows the id escaped")
	show, _, err := runBridge(t, n.URL, "dlq", "show", strconv.FormatUint(seq, 10))
	require.NoError(t, err)
	for name, text := range map[string]string{"ls": out, "show": show} {
		require.NotContains(t, text, "\x1b", "dlq %s wrote a raw escape character", name)
		require.NotContains(t, text, "\x07", "dlq %s wrote a raw bell character", name)
	}
}
