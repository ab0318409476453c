package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
)

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// DryRun reports what Replay would do and changes nothing.
	DryRun bool
	// Progress, when set, is called with how many of the selected dead letters have been
	// handled and how many there are: once with done 0, then after each one. Optional.
	Progress func(done, total int)
}

// Replayed is what Replay did, or in a dry run would do, with one dead letter.
type Replayed struct {
	DeadLetter
	// To is the subject the event was republished to, events.<type>; "" when skipped.
	To string
	// MsgID is the Nats-Msg-Id it was republished with: replay-<dlq seq>-<event id>.
	MsgID string
	// Skipped says why it was not replayed; "" when it was.
	Skipped string
	// EventsSeq is its new sequence on EVENTS; 0 in a dry run or when skipped.
	EventsSeq uint64
	// Duplicate is true when EVENTS already held it, from an earlier replay of this dead
	// letter that stopped before deleting it: it was not stored a second time.
	Duplicate bool
}

// Replay republishes the dead letters f selects onto EVENTS, oldest first, and deletes
// each from EVENTS_DLQ once EVENTS has stored it, so the bridge routes it again.
//
// The event goes to events.<type> with its original body and headers, minus the
// Flowbridge-* headers and the Nats-* publish controls, plus Flowbridge-Replayed-From
// naming the dead letter. Its CloudEvent id is unchanged; its Nats-Msg-Id is
// replay-<dlq seq>-<event id>: the original one would make EVENTS drop the event as a
// duplicate of itself, and a second failure's dead letter would be dropped by EVENTS_DLQ
// the same way. Because the new id is deterministic, replaying a dead letter again after
// a failure between publish and delete stores nothing new within EVENTS' duplicate window
// (past it, the bridge's own de-duplication by workflow id and event id still holds).
//
// An event that fails again is dead-lettered again by the bridge, as a new dead letter
// that Replay only touches when it is run again. Three kinds are skipped, with the
// reason, and stay: dead letters of type unknown, which have no subject to go to;
// truncated ones (Flowbridge-Truncated), which no longer hold the whole event; and events
// that are malformed in themselves (events.Decode refuses them: an attribute out of
// bounds, a missing id, a body that is no CloudEvent), which the bridge would only
// dead-letter again and which must never reach EVENTS.
//
// Replay stops at the first error and returns what it did until then. It returns
// ErrNoStream when EVENTS or EVENTS_DLQ is missing.
func (q *Queue) Replay(ctx context.Context, f Filter, opts ReplayOptions) ([]Replayed, error) {
	if _, err := q.stream(ctx, events.Stream); err != nil {
		return nil, err
	}
	dls, err := q.List(ctx, f)
	if err != nil {
		return nil, err
	}
	s, err := q.stream(ctx, events.DLQStream)
	if err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(int, int) {}
	}
	progress(0, len(dls))
	out := make([]Replayed, 0, len(dls))
	for i, dl := range dls {
		r := plan(dl)
		if r.Skipped == "" && !opts.DryRun {
			if err := q.replay(ctx, s, &r); err != nil {
				if r.EventsSeq != 0 || r.Duplicate { // published; only the delete failed
					out = append(out, r)
				}
				return out, fmt.Errorf("after %d of %d dead letters: %w", i, len(dls), err)
			}
		}
		out = append(out, r)
		progress(i+1, len(dls))
	}
	return out, nil
}

// plan decides where a dead letter goes, or why it cannot be replayed.
func plan(dl DeadLetter) Replayed {
	r := Replayed{DeadLetter: dl}
	switch dl.Type {
	case TypeUnknown:
		r.Skipped = "its event type could not be read, so there is no events.<type> subject to replay it to: publish a fixed event yourself, then purge this one"
		return r
	case "":
		r.Skipped = fmt.Sprintf("subject %s is not dlq.events.<type>: the bridge did not write it", dl.Subject)
		return r
	}
	if cut := events.HeaderValue(dl.Header, events.HeaderTruncated); cut != "" {
		r.Skipped = fmt.Sprintf("it was stored truncated (%s): republish the whole event from %s sequence %s while the stream still holds it, then purge this one",
			cut, events.Stream, events.HeaderValue(dl.Header, events.HeaderStreamSeq))
		return r
	}
	if _, err := events.Decode(dl.Header, dl.Data); err != nil {
		r.Skipped = fmt.Sprintf("its event cannot be routed as it is (%v): the bridge would only dead-letter it again; publish a fixed event yourself, then purge this one", err)
		return r
	}
	r.To = events.Subject(dl.Type)
	r.MsgID = replayMsgID(dl)
	return r
}

// replayMsgID is replay-<dlq seq>-<original id>: new, so no stream drops it as a copy of
// the original event, and deterministic, so a second replay of one dead letter is dropped.
func replayMsgID(dl DeadLetter) string {
	id := dl.EventID
	if id == "" {
		id = events.HeaderValue(dl.Header, events.HeaderMsgID)
	}
	if id == "" {
		return "replay-" + strconv.FormatUint(dl.Seq, 10)
	}
	return "replay-" + strconv.FormatUint(dl.Seq, 10) + "-" + id
}

// message is the event to publish for r.
func (r Replayed) message() *nats.Msg {
	m := nats.NewMsg(r.To)
	for k, vs := range r.Header {
		if isControlHeader(k) {
			continue
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	m.Header.Set(events.HeaderMsgID, r.MsgID)
	m.Header.Set(HeaderReplayedFrom, strconv.FormatUint(r.Seq, 10))
	m.Data = r.Data
	return m
}

// isControlHeader is true for headers that are not part of the event: the bridge's
// Flowbridge-* ones, and NATS's (Nats-Msg-Id, and Nats-Expected-Stream from the dead
// letter's own publish, which would make EVENTS refuse the replay).
func isControlHeader(k string) bool {
	k = strings.ToLower(k)
	return strings.HasPrefix(k, "flowbridge-") || strings.HasPrefix(k, "nats-")
}

// replay publishes r and, once EVENTS has stored it, deletes the dead letter.
func (q *Queue) replay(ctx context.Context, s jetstream.Stream, r *Replayed) error {
	ack, err := q.js.PublishMsg(ctx, r.message(), jetstream.WithExpectStream(events.Stream))
	if err != nil {
		return fmt.Errorf("replay dead letter %d to %s: %w", r.Seq, r.To, err)
	}
	r.EventsSeq, r.Duplicate = ack.Sequence, ack.Duplicate
	if err := deleteMsg(ctx, s, r.Seq); err != nil {
		return fmt.Errorf("dead letter %d is back on %s (EVENTS seq %d) but is still in %s: %w; replaying it again is harmless (EVENTS drops the copy within its duplicate window), or purge it",
			r.Seq, r.To, r.EventsSeq, events.DLQStream, err)
	}
	return nil
}

// deleteMsg deletes a dead letter. One that is already gone (a replay or purge running at
// the same time) is not an error.
func deleteMsg(ctx context.Context, s jetstream.Stream, seq uint64) error {
	err := s.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		if _, gerr := s.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return nil
		}
	}
	return fmt.Errorf("delete dead letter %d: %w", seq, err)
}
