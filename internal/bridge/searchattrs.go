package bridge

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/flowbridge/flowbridge/internal/contract"
	"github.com/flowbridge/flowbridge/internal/events"
)

// The search attributes the bridge sets on every workflow it starts (start and
// signal_with_start), so that `temporal workflow list --query
// 'FlowbridgeCorrelationId="..."'` finds the workflows of one chain of events. `bridge
// setup` registers them (Keyword).
var defaultAttrNames = []string{contract.SearchAttributeEventID, contract.SearchAttributeEventType, contract.SearchAttributeCorrelationID}

// attrsRecheck is how long the bridge starts workflows without its search attributes after
// Temporal said one is not registered, before it tries them again: a `bridge setup` run
// meanwhile takes effect without a restart, and an unregistered attribute costs one
// refused call per period, never an event.
const attrsRecheck = 5 * time.Minute

// defaultAttrs says whether the bridge sets its search attributes now.
type defaultAttrs struct {
	offUntil atomic.Int64 // unix nanoseconds; 0: on
}

func (a *defaultAttrs) on() bool { return time.Now().UnixNano() >= a.offUntil.Load() }

func (a *defaultAttrs) off() { a.offUntil.Store(time.Now().Add(attrsRecheck).UnixNano()) }

// addDefaultAttrs adds the event's search attributes to attrs (nil: a new set).
func addDefaultAttrs(attrs *commonpb.SearchAttributes, ev events.Event) (*commonpb.SearchAttributes, error) {
	if attrs == nil {
		attrs = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
	}
	dc := converter.GetDefaultDataConverter()
	for i, v := range []string{ev.ID(), ev.Type(), events.CorrelationID(ev)} {
		p, err := dc.ToPayload(v)
		if err != nil {
			return nil, err
		}
		attrs.IndexedFields[defaultAttrNames[i]] = p
	}
	return attrs, nil
}

// withoutDefaultAttrs is attrs without the bridge's own (nil when none is left).
func withoutDefaultAttrs(attrs *commonpb.SearchAttributes) *commonpb.SearchAttributes {
	out := &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
	for k, v := range attrs.GetIndexedFields() {
		if !isDefaultAttr(k) {
			out.IndexedFields[k] = v
		}
	}
	if len(out.IndexedFields) == 0 {
		return nil
	}
	return out
}

func isDefaultAttr(name string) bool {
	for _, n := range defaultAttrNames {
		if n == name {
			return true
		}
	}
	return false
}

// unregisteredDefaultAttr reports whether err is Temporal refusing a start because one of
// the bridge's own search attributes is not registered in the namespace ("Namespace
// default has no mapping defined for search attribute FlowbridgeEventId", or "search
// attribute ... is not defined").
func unregisteredDefaultAttr(err error) bool {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) || !strings.Contains(strings.ToLower(invalid.Message), "search attribute") {
		return false
	}
	for _, n := range defaultAttrNames {
		if strings.Contains(invalid.Message, n) {
			return true
		}
	}
	return false
}

// startWithAttrs makes a start or signal-with-start call that carries the bridge's search
// attributes in *attrs. If Temporal refuses it because one is not registered, it warns,
// stops setting them for attrsRecheck, and calls again without them: a missing `bridge
// setup` costs searchability, never an event.
func (b *Bridge) startWithAttrs(ctx context.Context, attrs **commonpb.SearchAttributes, call func(context.Context) error) error {
	err := b.call(ctx, call)
	if err == nil || !unregisteredDefaultAttr(err) {
		return err
	}
	b.attrs.off()
	b.log.Warn().Err(err).Str("namespace", b.cfg.Namespace).Dur("retry_in", attrsRecheck).
		Msgf("Temporal has not registered flowbridge's search attributes (%s): starting workflows without them; run `bridge setup` to register them", strings.Join(defaultAttrNames, ", "))
	*attrs = withoutDefaultAttrs(*attrs)
	return b.call(ctx, call)
}

// checkDefaultAttrs warns at start-up when the namespace lacks the bridge's search
// attributes, and starts without them until attrsRecheck has passed. It needs the
// operator service (a client.Client has it); without one, or when listing fails (an
// identity not allowed to), the first start finds out instead.
func (b *Bridge) checkDefaultAttrs(ctx context.Context) {
	op, ok := b.temporal.(interface {
		OperatorService() operatorservice.OperatorServiceClient
	})
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
	defer cancel()
	resp, err := op.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: b.cfg.Namespace})
	if err != nil {
		b.log.Debug().Err(err).Msg("Could not list Temporal's search attributes; the first start will tell")
		return
	}
	var missing []string
	for _, n := range defaultAttrNames {
		if _, ok := resp.GetCustomAttributes()[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		b.attrs.off()
		b.log.Warn().Str("namespace", b.cfg.Namespace).Strs("missing", missing).Dur("retry_in", attrsRecheck).
			Msg("Temporal has not registered flowbridge's search attributes: starting workflows without them; run `bridge setup` to register them")
	}
}
