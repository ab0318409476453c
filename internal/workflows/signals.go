package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/flowbridge/flowbridge/internal/contract"
)

// SignalInbox receives one signal whose payload is a contract.Event and drops every delivery of
// an event id it has already seen. The bridge may signal twice for one event (it crashed
// after Temporal took the signal but before the stream took the ack); the inbox makes that
// harmless. Every workflow that takes signals reads them through one.
type SignalInbox struct {
	name string
	ch   workflow.ReceiveChannel
	seen map[string]bool
}

// NewSignalInbox returns the inbox for the signal called name.
func NewSignalInbox(ctx workflow.Context, name string) *SignalInbox {
	return &SignalInbox{name: name, ch: workflow.GetSignalChannel(ctx, name), seen: map[string]bool{}}
}

// AddTo adds the inbox to sel: when a signal with an event id not seen before arrives,
// fn is called with it; a repeated event id is logged and dropped.
func (in *SignalInbox) AddTo(ctx workflow.Context, sel workflow.Selector, fn func(contract.Event)) {
	sel.AddReceive(in.ch, func(c workflow.ReceiveChannel, _ bool) {
		var ev contract.Event
		c.Receive(ctx, &ev)
		if in.seen[ev.ID] {
			workflow.GetLogger(ctx).Info("Dropped a repeated signal", "signal", in.name, "ce_id", ev.ID)
			return
		}
		in.seen[ev.ID] = true
		fn(ev)
	})
}
