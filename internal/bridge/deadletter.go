package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
)

const (
	// maxDedupID is the longest original Nats-Msg-Id a dead letter reuses as its own;
	// a longer (or unprintable) one is replaced by EVENTS-<stream sequence>.
	maxDedupID = 256
	// maxKeptHeader is the longest original header value a truncated dead letter keeps:
	// longer ones are dropped first, and named in Flowbridge-Truncated.
	maxKeptHeader = 1024
	// truncatedReserve is the room kept for the Flowbridge-Truncated header line.
	truncatedReserve = 512
	// headerOverhead is the header block's fixed bytes: "NATS/1.0\r\n" and the final "\r\n".
	headerOverhead = len("NATS/1.0\r\n") + len("\r\n")
)

// deadLetter stores the message on EVENTS_DLQ with its body and headers plus
// Flowbridge-Error, and sets out to dead-lettered (the message is then acked).
//
// NATS's own headers (Nats-*) are not copied: they are instructions to the stream the
// original was published to (Nats-Expected-Last-Subject-Sequence, Nats-TTL, Nats-Rollup
// ...), and EVENTS_DLQ would refuse or obey them. A dead letter that would not fit the
// server's max_payload is stored truncated (see fitDeadLetter); one that EVENTS_DLQ
// refuses anyway is stored as its Flowbridge-* headers alone. Either way it names the
// original's sequence on EVENTS, where the whole event stays until retention.
//
// If no dead letter can be stored (EVENTS_DLQ unreachable or full), out says retry: the
// message stays on EVENTS, and every failed attempt is logged at error level and counted
// in flowbridge_bridge_dead_letter_failures_total.
func (b *Bridge) deadLetter(ctx context.Context, it item, meta *jetstream.MsgMetadata, log zerolog.Logger, cause error, out *Outcome) {
	typ := b.metricType(it.ev.Type())
	dl, cut := fitDeadLetter(newDeadLetter(it, meta, cause), it.msg.Headers(), it.msg.Data(), b.maxPayload())
	ack, err := b.storeDeadLetter(ctx, dl)
	if refused(err) {
		log.Error().Err(err).AnErr("reason", cause).Msg("EVENTS_DLQ refused the dead letter; storing its Flowbridge-* headers alone (the whole event stays on EVENTS)")
		dl, cut = bareDeadLetter(dl, it.msg.Headers(), it.msg.Data(), err), true
		ack, err = b.storeDeadLetter(ctx, dl)
	}
	if err != nil {
		b.metrics.deadLetterFailed(typ)
		out.retry(meta, err)
		out.Error = "store dead letter: " + err.Error() + " (reason: " + cause.Error() + ")"
		log.Error().Err(err).AnErr("reason", cause).Dur("retry_in", out.RetryIn).
			Msg("Could not store dead letter; the event stays on EVENTS and is tried again (flowbridge_bridge_dead_letter_failures_total)")
		return
	}
	if cut {
		b.metrics.deadLetterTruncated(typ)
	}
	out.Outcome = OutcomeDeadLettered
	out.Error = cause.Error()
	ev := log.Warn().Err(cause).Str("dlq_subject", dl.Subject).Uint64("dlq_seq", ack.Sequence)
	if cut {
		ev = ev.Str("truncated", dl.Header.Get(events.HeaderTruncated))
	}
	ev.Msg("Dead-lettered event")
}

func (b *Bridge) storeDeadLetter(ctx context.Context, dl *nats.Msg) (*jetstream.PubAck, error) {
	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	return b.js.PublishMsg(pctx, dl, jetstream.WithExpectStream(events.DLQStream))
}

// maxPayload is the largest message the server takes now (its max_payload).
func (b *Bridge) maxPayload() int {
	if nc := b.js.Conn(); nc != nil {
		if n := nc.MaxPayload(); n > 0 {
			return int(n)
		}
	}
	return 1 << 20 // NATS's default, until the connection has told us
}

// refused is true when the server (or the client, on its behalf) refused this dead
// letter as built, rather than being unreachable: another dead letter may still be taken.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadHeaderMsg)
}

// newDeadLetter is the whole dead letter of it: the original headers but NATS's own,
// plus the Flowbridge-* headers, with no body yet.
func newDeadLetter(it item, meta *jetstream.MsgMetadata, cause error) *nats.Msg {
	dl := headersOf(it.msg, events.DLQSubject(eventTypeOf(it)))
	dl.Header.Set(events.HeaderError, oneLine(cause.Error()))
	_, seq := it.origin(meta)
	if it.parked != nil && it.parked.seq != 0 { // back from EVENTS_WAITING: its place on EVENTS
		seq = it.parked.seq
	}
	if it.window != nil && it.window.seq != 0 { // back from a window: its place on EVENTS
		seq = it.window.seq
	}
	dl.Header.Del(headerWindowRoute)
	dl.Header.Set(events.HeaderStreamSeq, strconv.FormatUint(seq, 10))
	dl.Header.Del(headerWaitingRoute)
	dl.Header.Del(headerWaitingSince)
	dl.Header.Del(headerOriginalSubject)
	dl.Header.Set(events.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	// The original's Nats-Msg-Id keeps a redelivery (after a crash between this publish
	// and the ack) from storing a second dead letter; an id that would not make a sane
	// header is replaced by one just as deterministic.
	id := events.HeaderValue(it.msg.Headers(), events.HeaderMsgID)
	if events.CheckID(id) != nil { // the rule every event id keeps
		id = fmt.Sprintf("%s-%d", events.Stream, meta.Sequence.Stream)
	}
	dl.Header.Set(events.HeaderMsgID, id)
	dl.Header.Set(jetstream.ExpectedStreamHeader, events.DLQStream) // counted in its size
	return dl
}

// headersOf is a message on subject with msg's headers but NATS's own (isNATSHeader: they
// held for the original's stream, not for the copy's) and no body: the caller adds the
// body and its own Flowbridge-* and Nats-Msg-Id headers.
func headersOf(msg jetstream.Msg, subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	for k, vs := range msg.Headers() {
		if !isNATSHeader(k) {
			m.Header[k] = append([]string(nil), vs...)
		}
	}
	return m
}

// isNATSHeader is true for the headers NATS itself interprets (Nats-Msg-Id,
// Nats-Expected-*, Nats-Rollup, Nats-TTL ...), whatever their case.
func isNATSHeader(k string) bool {
	return len(k) >= 5 && strings.EqualFold(k[:5], "nats-")
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// fitDeadLetter gives dl the original body if the whole fits in limit bytes (headers
// and body, as NATS counts them against max_payload). Otherwise it cuts until it fits,
// in this order: original header values longer than maxKeptHeader, then the largest
// original headers until the body has room (at most half the limit), then the end of
// the body; and Flowbridge-Truncated says what the original was and what was cut. The headers flowbridge adds are never cut. It reports
// whether it cut anything.
func fitDeadLetter(dl *nats.Msg, orig nats.Header, body []byte, limit int) (*nats.Msg, bool) {
	if headerSize(dl.Header)+len(body) <= limit {
		dl.Data = body
		return dl, false
	}
	var dropped []string
	drop := func(k string) {
		delete(dl.Header, k)
		dropped = append(dropped, k)
	}
	cuttable := func() []string {
		var ks []string
		for k := range dl.Header {
			if !addedHeader(k) {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		return ks
	}
	for _, k := range cuttable() {
		if slices.ContainsFunc(dl.Header[k], func(v string) bool { return len(v) > maxKeptHeader }) {
			drop(k)
		}
	}
	// The body is the event: headers leave it room, up to half of what there is.
	budget := limit - truncatedReserve
	if hdrBudget := budget - min(len(body), budget/2); headerSize(dl.Header) > hdrBudget {
		ks := cuttable()
		slices.SortStableFunc(ks, func(a, b string) int { return cmp.Compare(lineSize(b, dl.Header[b]), lineSize(a, dl.Header[a])) })
		for _, k := range ks {
			if headerSize(dl.Header) <= hdrBudget {
				break
			}
			drop(k)
		}
	}
	kept := body[:min(len(body), max(budget-headerSize(dl.Header), 0))]
	dl.Data = kept
	note := fmt.Sprintf("original %d bytes (headers %d, body %d); body cut to %d bytes", headerSize(orig)+len(body), headerSize(orig), len(body), len(kept))
	dl.Header.Set(events.HeaderTruncated, note+droppedNote(dropped))
	return dl, true
}

// bareDeadLetter is what is stored when EVENTS_DLQ refuses the dead letter dl: the
// headers flowbridge added, the event's id, type and source when they make sane
// headers, and no body.
func bareDeadLetter(dl *nats.Msg, orig nats.Header, body []byte, why error) *nats.Msg {
	bare := nats.NewMsg(dl.Subject)
	for k, vs := range dl.Header {
		if addedHeader(k) && k != events.HeaderTruncated {
			bare.Header[k] = vs
		}
	}
	for _, k := range []string{"ce-id", "ce-type", "ce-source", "ce-specversion"} {
		if v := events.HeaderValue(orig, k); v != "" && len(v) <= maxDedupID && printable(v) {
			bare.Header.Set(k, v)
		}
	}
	reason := oneLine(why.Error())
	if len(reason) > 200 {
		reason = cutUTF8(reason, 200) + "..."
	}
	bare.Header.Set(events.HeaderTruncated, fmt.Sprintf("original %d bytes (headers %d, body %d); %s refused the dead letter (%s), so only these headers are kept",
		headerSize(orig)+len(body), headerSize(orig), len(body), events.DLQStream, reason))
	return bare
}

// addedHeader is true for the headers a dead letter gets from the bridge.
func addedHeader(k string) bool {
	switch k {
	case events.HeaderError, events.HeaderStreamSeq, events.HeaderFailedAt, events.HeaderTruncated,
		events.HeaderMsgID, jetstream.ExpectedStreamHeader:
		return true
	}
	return false
}

// droppedNote names the headers a truncated dead letter dropped, within a few hundred
// bytes.
func droppedNote(dropped []string) string {
	if len(dropped) == 0 {
		return ""
	}
	const room = 300
	var b strings.Builder
	b.WriteString("; dropped headers: ")
	for i, k := range dropped {
		if len(k) > 64 {
			k = cutUTF8(k, 64) + "..."
		}
		if b.Len()+len(k) > room {
			fmt.Fprintf(&b, "and %d more", len(dropped)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

// headerSize is the size of h on the wire, as nats.go counts it against max_payload.
func headerSize(h nats.Header) int {
	if len(h) == 0 {
		return 0
	}
	n := headerOverhead
	for k, vs := range h {
		n += lineSize(k, vs)
	}
	return n
}

func lineSize(k string, vs []string) int {
	n := 0
	for _, v := range vs {
		n += len(k) + len(": ") + len(textproto.TrimString(v)) + len("\r\n")
	}
	return n
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// eventTypeOf finds the best type name for the DLQ subject: the decoded type, the ce-type
// header (in any case), or the subject the message arrived on; the first that passes
// events.CheckType, so that dlq.events.<type> is a valid subject. "" when none does:
// the dead letter goes to dlq.events.unknown.
func eventTypeOf(it item) string {
	for _, t := range []string{it.ev.Type(), events.HeaderValue(it.msg.Headers(), "ce-type"), strings.TrimPrefix(it.msg.Subject(), events.SubjectPrefix)} {
		if events.CheckType(t) == nil {
			return t
		}
	}
	return ""
}

// oneLine makes s a header value people can read: one line, no control characters,
// valid UTF-8, at most about 1 KiB.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", "; ", "\n", "; ").Replace(strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = cutUTF8(s, 1024) + "..."
	}
	return s
}
