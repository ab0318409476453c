package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flowbridge/flowbridge/internal/events"
)

// deadLetter stores the message on EVENTS_DLQ with its body and headers intact plus
// Flowbridge-Error, and sets out to dead-lettered (the message is then acked). If the
// dead letter cannot be stored, out says retry: the message stays on EVENTS until it can.
func (b *Bridge) deadLetter(ctx context.Context, it item, meta *jetstream.MsgMetadata, log zerolog.Logger, cause error, out *Outcome) {
	dl := nats.NewMsg(events.DLQSubject(eventTypeOf(it)))
	for k, vs := range it.msg.Headers() {
		dl.Header[k] = append([]string(nil), vs...)
	}
	dl.Header.Set(events.HeaderError, oneLine(cause.Error()))
	dl.Header.Set(events.HeaderStreamSeq, fmt.Sprint(meta.Sequence.Stream))
	dl.Header.Set(events.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if dl.Header.Get(events.HeaderMsgID) == "" {
		// A redelivery after a crash between this publish and the ack must not store a
		// second dead letter.
		dl.Header.Set(events.HeaderMsgID, fmt.Sprintf("%s-%d", events.Stream, meta.Sequence.Stream))
	}
	dl.Data = it.msg.Data()

	pctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, dl, jetstream.WithExpectStream(events.DLQStream)); err != nil {
		out.retry(meta, err)
		out.Error = "store dead letter: " + err.Error() + " (reason: " + cause.Error() + ")"
		log.Error().Err(err).AnErr("reason", cause).Dur("retry_in", out.RetryIn).Msg("Could not store dead letter; will retry")
		return
	}
	out.Outcome = OutcomeDeadLettered
	out.Error = cause.Error()
	log.Warn().Err(cause).Str("dlq_subject", dl.Subject).Msg("Dead-lettered event")
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

func oneLine(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", "; ").Replace(s)
	if len(s) > 1024 {
		s = s[:1024] + "..."
	}
	return s
}
