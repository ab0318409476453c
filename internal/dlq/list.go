package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
)

// Filter selects dead letters. The zero Filter selects every one.
type Filter struct {
	// Type selects dead letters of one event type (dlq.events.<Type>); TypeUnknown selects
	// those whose type could not be read. NATS wildcards are allowed as whole tokens
	// ("stripe.*", "stripe.>"). Optional: "" selects every type.
	Type string
	// Reason selects dead letters whose Flowbridge-Error contains it, ignoring case.
	// Optional: "" selects every reason.
	Reason string
	// Since selects dead letters stored at or after it. Optional: zero means no lower bound.
	Since time.Time
	// Until selects dead letters stored before it. Optional: zero means no upper bound.
	Until time.Time
	// Limit is the most dead letters selected, oldest first. Optional: 0 means no limit.
	Limit int
}

// Validate returns an error wrapping ErrInvalidFilter that names what is wrong.
func (f Filter) Validate() error {
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrInvalidFilter, f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("%w: since %s is not before until %s", ErrInvalidFilter, f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Type == "" {
		return nil
	}
	toks := strings.Split(f.Type, ".")
	for i, tok := range toks {
		switch {
		case tok == "" || strings.ContainsAny(tok, " \t\r\n"):
			return fmt.Errorf("%w: type %q: want dot-separated tokens without spaces (user.signedup, stripe.*)", ErrInvalidFilter, f.Type)
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("%w: type %q: '>' may only be the last token", ErrInvalidFilter, f.Type)
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("%w: type %q: '*' and '>' must be whole tokens", ErrInvalidFilter, f.Type)
		}
	}
	return nil
}

// subject is the EVENTS_DLQ subject the filter reads.
func (f Filter) subject() string {
	if f.Type == "" {
		return events.DLQSubjects
	}
	return dlqEventsPrefix + f.Type
}

// matches applies the parts of the filter the server does not.
func (f Filter) matches(dl DeadLetter) bool {
	return f.Reason == "" || strings.Contains(strings.ToLower(dl.Reason), strings.ToLower(f.Reason))
}

// List returns the dead letters f selects, oldest first. It reads a snapshot: dead
// letters stored after List began are not included. It returns ErrNoStream when there is
// no EVENTS_DLQ stream, and an error wrapping ErrInvalidFilter for a bad filter.
func (q *Queue) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	var out []DeadLetter
	err := q.scan(ctx, f, func(dl DeadLetter) bool {
		out = append(out, dl)
		return f.Limit == 0 || len(out) < f.Limit
	})
	return out, err
}

// scan calls fn with each dead letter f selects, oldest first, until fn returns false.
// The type and start time are filtered by the server, through an ordered consumer that
// reads in batches; the reason is filtered here.
func (q *Queue) scan(ctx context.Context, f Filter, fn func(DeadLetter) bool) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s, err := q.stream(ctx, events.DLQStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s state: %w", events.DLQStream, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq // the snapshot: later dead letters are not read

	subject := f.subject()
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
		MaxResetAttempts:  3,
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	c, err := q.js.OrderedConsumer(ctx, events.DLQStream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: create consumer: %w", events.DLQStream, err)
	}
	msgs, err := c.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("read %s: %w", events.DLQStream, err)
	}
	ci := c.CachedInfo()
	defer func() {
		msgs.Stop()
		// Best effort: the server removes it after InactiveThreshold anyway.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = q.js.DeleteConsumer(dctx, events.DLQStream, ci.Name)
	}()
	if ci.NumPending == 0 {
		return nil
	}
	cursor := ci.Delivered.Stream // the stream sequence of the last message read
	for {
		m, ok, err := q.next(ctx, s, msgs, subject, cursor, last)
		if !ok {
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", events.DLQStream, err)
		}
		cursor = meta.Sequence.Stream
		if cursor > last || (!f.Until.IsZero() && !meta.Timestamp.Before(f.Until)) {
			return nil
		}
		dl := newDeadLetter(cursor, m.Subject(), meta.Timestamp, m.Headers(), m.Data())
		if f.matches(dl) && !fn(dl) {
			return nil
		}
		if cursor == last || meta.NumPending == 0 {
			return nil
		}
	}
}

// next returns the next message of the listing, or false at its end or on an error. The consumer said
// there was more, but those dead letters may have been deleted since (by a replay or
// purge running at the same time): when nothing arrives for a while, ask the stream.
func (q *Queue) next(ctx context.Context, s jetstream.Stream, msgs jetstream.MessagesContext, subject string, cursor, last uint64) (jetstream.Msg, bool, error) {
	for {
		nctx, cancel := context.WithTimeout(ctx, q.idle)
		m, err := msgs.Next(jetstream.NextContext(nctx))
		cancel()
		switch {
		case err == nil:
			return m, true, nil
		case ctx.Err() != nil:
			return nil, false, fmt.Errorf("read %s: %w", events.DLQStream, ctx.Err())
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, false, fmt.Errorf("read %s: %w", events.DLQStream, err)
		}
		rm, err := s.GetMsg(ctx, cursor+1, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && rm.Sequence > last) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", events.DLQStream, err)
		}
	}
}
