package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// held is every message the bridge has taken and not yet settled: waiting for its turn
// or being handled. Its keeper tells the server, every AckWait/4, that those held for a
// fifth of an AckWait or more are still being worked on (InProgress), so a message
// queued behind slow Temporal calls is not redelivered while its first copy waits: none
// goes longer than about half an AckWait unextended, and one settled within AckWait/5
// (all of them, when Temporal is well) costs nothing. A bridge that dies stops telling,
// and the server redelivers its messages after AckWait as before.
type held struct {
	mu   sync.Mutex
	msgs map[*heldMsg]struct{}
}

// heldMsg is one held message. Its lock orders InProgress before the settlement: once
// settled, no InProgress follows (one arriving after a NakWithDelay would restart the
// AckWait clock and override the delay).
type heldMsg struct {
	mu      sync.Mutex
	msg     jetstream.Msg
	touched time.Time // taken, or last told InProgress
	done    bool
}

func newHeld() *held { return &held{msgs: map[*heldMsg]struct{}{}} }

// add holds m from now until it is settled or dropped.
func (h *held) add(m jetstream.Msg) *heldMsg {
	hm := &heldMsg{msg: m, touched: time.Now()}
	h.mu.Lock()
	h.msgs[hm] = struct{}{}
	h.mu.Unlock()
	return hm
}

// settle stops holding hm and settles its message.
func (h *held) settle(hm *heldMsg, s settlement) error {
	h.drop(hm)
	hm.mu.Lock()
	defer hm.mu.Unlock()
	hm.done = true
	return s(hm.msg)
}

// drop stops holding hm without settling it.
func (h *held) drop(hm *heldMsg) {
	h.mu.Lock()
	delete(h.msgs, hm)
	h.mu.Unlock()
}

// keep sends InProgress, every ackWait/4 until ctx ends, for the messages held for
// ackWait/5 or more since they were taken or last told. extended counts each InProgress sent.
func (h *held) keep(ctx context.Context, ackWait time.Duration, extended func(), failed func(error)) {
	t := time.NewTicker(ackWait / 4)
	defer t.Stop()
	var batch []*heldMsg
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			batch = batch[:0]
			h.mu.Lock()
			for hm := range h.msgs {
				batch = append(batch, hm)
			}
			h.mu.Unlock()
			for _, hm := range batch {
				hm.mu.Lock()
				if !hm.done && now.Sub(hm.touched) >= ackWait/5 {
					if err := hm.msg.InProgress(); err != nil {
						failed(err)
					} else {
						hm.touched = now
						extended()
					}
				}
				hm.mu.Unlock()
			}
			clear(batch)
		}
	}
}
