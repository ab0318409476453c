package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowbridge/flowbridge/internal/events"
)

// consumers are the durable consumers every bridge shares, with the bridge's ack wait
// (BRIDGE_ACK_WAIT), by stream; in partitioned mode (s.Partitions) the bridge consumer
// is the sequencer, and each partition has one.
func consumers(s events.StreamSettings, ackWait time.Duration) map[string][]jetstream.ConsumerConfig {
	out := map[string][]jetstream.ConsumerConfig{
		events.Stream:         {events.BridgeConsumerConfig(events.BridgeConsumer, ackWait)},
		events.WaitingStream:  {events.WaitingConsumerConfig(ackWait)},
		events.DebounceStream: {events.DebounceConsumerConfig(ackWait)},
		events.BatchStream:    {events.BatchConsumerConfig(ackWait)},
	}
	if s.Partitions > 0 {
		out[events.Stream] = []jetstream.ConsumerConfig{events.SequencerConsumerConfig(events.BridgeConsumer, ackWait)}
		for p := range s.Partitions {
			out[events.PartitionStream] = append(out[events.PartitionStream], events.PartitionConsumerConfig(p, ackWait))
		}
	}
	return out
}

// PlanJetStream compares the streams and the durable consumers on the server with s and
// ackWait. It only reads (stream and consumer info), so a user without the right to
// manage streams can run it. It fails when a stream of flowbridge's name exists but does
// not capture flowbridge's subjects: that stream is someone else's.
func PlanJetStream(ctx context.Context, js jetstream.JetStream, s events.StreamSettings, ackWait time.Duration) (Plan, error) {
	var p, cp Plan // streams, then their consumers
	byStream := consumers(s, ackWait)
	for _, want := range s.Configs() {
		created := false
		object := "stream " + want.Name
		stream, err := js.Stream(ctx, want.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			created = true
			p.Changes = append(p.Changes, Change{Kind: KindStream, Object: object, Action: Create, Fields: createFields(want), apply: func(ctx context.Context) error {
				_, err := js.CreateStream(ctx, want)
				return explainStreamErr(err)
			}})
		case err != nil:
			return Plan{}, fmt.Errorf("look up stream %s: %w", want.Name, err)
		default:
			have := stream.CachedInfo().Config
			if !slices.Contains(have.Subjects, want.Subjects[0]) {
				return Plan{}, fmt.Errorf("stream %s exists with subjects %v, want it to include %s: it is not flowbridge's stream; fix the stream or point NATS_URL elsewhere",
					want.Name, have.Subjects, want.Subjects[0])
			}
			diff(&p, KindStream, object, have, want, streamFields(want.Name), func(ctx context.Context, cfg jetstream.StreamConfig) error {
				_, err := js.UpdateStream(ctx, cfg)
				return explainStreamErr(err)
			})
		}

		for _, cc := range byStream[want.Name] {
			object := fmt.Sprintf("consumer %s > %s", want.Name, cc.Durable)
			createConsumer := func(ctx context.Context) error {
				_, err := js.CreateConsumer(ctx, want.Name, cc)
				return err
			}
			if created {
				cp.Changes = append(cp.Changes, Change{Kind: KindConsumer, Object: object, Action: Create, Fields: createConsumerFields(cc), apply: createConsumer})
				continue
			}
			cons, err := js.Consumer(ctx, want.Name, cc.Durable)
			switch {
			case errors.Is(err, jetstream.ErrConsumerNotFound):
				cp.Changes = append(cp.Changes, Change{Kind: KindConsumer, Object: object, Action: Create, Fields: createConsumerFields(cc), apply: createConsumer})
			case err != nil:
				return Plan{}, fmt.Errorf("look up consumer %s on stream %s: %w", cc.Durable, want.Name, err)
			default:
				diff(&cp, KindConsumer, object, cons.CachedInfo().Config, cc, consumerFields(want.Name), func(ctx context.Context, cfg jetstream.ConsumerConfig) error {
					_, err := js.UpdateConsumer(ctx, want.Name, cfg)
					return err
				})
			}
		}
	}
	p.Add(cp)
	return p, nil
}

// jsErrReplicasNotSupported is the JetStream API error code of "replicas > 1 not
// supported in non-clustered mode".
const jsErrReplicasNotSupported = 10074

// explainStreamErr adds what to do to the errors of creating or updating a stream that an
// operator can act on.
func explainStreamErr(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrReplicasNotSupported {
		return fmt.Errorf("%w: EVENTS_REPLICAS above 1 needs a NATS cluster; set EVENTS_REPLICAS=1 for a single server", err)
	}
	return err
}

// field is one field flowbridge owns of a stream or consumer config C.
type field[C any] struct {
	name string
	// text is the field's value for people, normalized so that equal settings compare
	// equal (a server's -1 and a config's 0 for "no limit", say).
	text func(C) string
	// set copies the field from src to dst.
	set func(dst *C, src C)
	// fixed says why the servers cannot change the field from have to want, and what to
	// do; "" when they can.
	fixed func(have, want C) string
}

// diff compares the owned fields of have and want and adds to p a refusal of the fields
// the servers cannot change, an update of the others (have with want's values of them),
// or the object as unchanged.
func diff[C any](p *Plan, kind, object string, have, want C, fields []field[C], update func(context.Context, C) error) {
	next := have
	var changed, refused []Field
	var whys []string
	for _, f := range fields {
		from, to := f.text(have), f.text(want)
		if from == to {
			continue
		}
		if why := f.fixed(have, want); why != "" {
			refused = append(refused, Field{Name: f.name, From: from, To: to})
			whys = append(whys, why)
			continue
		}
		changed = append(changed, Field{Name: f.name, From: from, To: to})
		f.set(&next, want)
	}
	if len(refused) > 0 {
		p.Changes = append(p.Changes, Change{Kind: kind, Object: object, Action: Refuse, Fields: refused, Why: strings.Join(whys, " ")})
	}
	if len(changed) > 0 {
		p.Changes = append(p.Changes, Change{Kind: kind, Object: object, Action: Update, Fields: changed, apply: func(ctx context.Context) error { return update(ctx, next) }})
	}
	if len(refused)+len(changed) == 0 {
		p.Unchanged = append(p.Unchanged, object)
	}
}

func changeable[C any](_, _ C) string { return "" }

var (
	retentionField = field[jetstream.StreamConfig]{
		name: "retention",
		text: func(c jetstream.StreamConfig) string { return jsonText(c.Retention) },
		set:  func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Retention = src.Retention },
		fixed: func(have, want jetstream.StreamConfig) string {
			if have.Retention == jetstream.WorkQueuePolicy || want.Retention == jetstream.WorkQueuePolicy {
				return "NATS cannot change a stream's retention to or from workqueue: delete the stream (its messages are lost) and run bridge setup again."
			}
			return ""
		},
	}
	storageField = field[jetstream.StreamConfig]{
		name: "storage",
		text: func(c jetstream.StreamConfig) string { return jsonText(c.Storage) },
		set:  func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Storage = src.Storage },
		fixed: func(have, _ jetstream.StreamConfig) string {
			return fmt.Sprintf("NATS cannot change a stream's storage: set EVENTS_STORAGE=%s to keep it, or delete the stream (its messages are lost) and run bridge setup again.", jsonText(have.Storage))
		},
	}
	replicasField = field[jetstream.StreamConfig]{
		name:  "num_replicas",
		text:  func(c jetstream.StreamConfig) string { return strconv.Itoa(max(c.Replicas, 1)) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Replicas = src.Replicas },
		fixed: changeable[jetstream.StreamConfig],
	}
	placementField = field[jetstream.StreamConfig]{
		name:  "placement",
		text:  func(c jetstream.StreamConfig) string { return placementText(c.Placement) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Placement = src.Placement },
		fixed: changeable[jetstream.StreamConfig],
	}
	duplicatesField = field[jetstream.StreamConfig]{
		name:  "duplicate_window",
		text:  func(c jetstream.StreamConfig) string { return durationText(c.Duplicates) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Duplicates = src.Duplicates },
		fixed: changeable[jetstream.StreamConfig],
	}
	maxAgeField = field[jetstream.StreamConfig]{
		name:  "max_age",
		text:  func(c jetstream.StreamConfig) string { return limitText(c.MaxAge) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.MaxAge = src.MaxAge },
		fixed: changeable[jetstream.StreamConfig],
	}
	maxBytesField = field[jetstream.StreamConfig]{
		name:  "max_bytes",
		text:  func(c jetstream.StreamConfig) string { return bytesText(c.MaxBytes) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.MaxBytes = src.MaxBytes },
		fixed: changeable[jetstream.StreamConfig],
	}
	discardField = field[jetstream.StreamConfig]{
		name:  "discard",
		text:  func(c jetstream.StreamConfig) string { return jsonText(c.Discard) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.Discard = src.Discard },
		fixed: changeable[jetstream.StreamConfig],
	}
	maxMsgsPerSubjectField = field[jetstream.StreamConfig]{
		name: "max_msgs_per_subject",
		text: func(c jetstream.StreamConfig) string {
			if c.MaxMsgsPerSubject <= 0 {
				return "unlimited"
			}
			return strconv.FormatInt(c.MaxMsgsPerSubject, 10)
		},
		set: func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) {
			dst.MaxMsgsPerSubject = src.MaxMsgsPerSubject
		},
		fixed: changeable[jetstream.StreamConfig],
	}
	allowDirectField = field[jetstream.StreamConfig]{
		name:  "allow_direct",
		text:  func(c jetstream.StreamConfig) string { return strconv.FormatBool(c.AllowDirect) },
		set:   func(dst *jetstream.StreamConfig, src jetstream.StreamConfig) { dst.AllowDirect = src.AllowDirect },
		fixed: changeable[jetstream.StreamConfig],
	}
)

// streamFields are the fields flowbridge owns of the stream name: the settings, and what
// the bridge relies on. The others (EVENTS' max_age among them) are set when the stream
// is created and left to the operator after.
func streamFields(name string) []field[jetstream.StreamConfig] {
	fields := []field[jetstream.StreamConfig]{retentionField, storageField, replicasField, placementField, duplicatesField}
	switch name {
	case events.DLQStream:
		fields = append(fields, maxAgeField, maxBytesField, discardField)
	case events.WaitingStream:
		// A parked signal must never expire unseen, and the bridge looks parked signals
		// up by direct get.
		fields = append(fields, maxAgeField, allowDirectField)
	case events.DebounceStream:
		// One event per route and key: the newer folds the older.
		fields = append(fields, maxMsgsPerSubjectField, discardField)
	case events.BatchStream:
		// A held event must never expire unseen; a batch is read by direct get.
		fields = append(fields, maxAgeField, allowDirectField)
	}
	return fields
}

// createFields lists what a stream is created with.
func createFields(c jetstream.StreamConfig) []Field {
	out := []Field{{Name: "subjects", To: "[" + strings.Join(c.Subjects, " ") + "]"}}
	fields := streamFields(c.Name)
	if c.Name == events.Stream {
		fields = append(fields, maxAgeField)
	}
	for _, f := range fields {
		out = append(out, Field{Name: f.name, To: f.text(c)})
	}
	return out
}

// consumerFields are the fields flowbridge owns of a consumer on stream: all it sets.
func consumerFields(stream string) []field[jetstream.ConsumerConfig] {
	fixed := func(name string) func(have, want jetstream.ConsumerConfig) string {
		return func(have, _ jetstream.ConsumerConfig) string {
			return fmt.Sprintf("NATS cannot change a consumer's %s: delete the consumer (nats consumer rm %s %s) and run bridge setup again; the new consumer delivers again every message the stream holds.", name, stream, have.Durable)
		}
	}
	return []field[jetstream.ConsumerConfig]{
		{
			name: "filter_subject",
			text: func(c jetstream.ConsumerConfig) string { return c.FilterSubject },
			set: func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) {
				dst.FilterSubject = src.FilterSubject
			},
			fixed: changeable[jetstream.ConsumerConfig],
		},
		{
			name: "deliver_policy",
			text: func(c jetstream.ConsumerConfig) string { return jsonText(c.DeliverPolicy) },
			set: func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) {
				dst.DeliverPolicy = src.DeliverPolicy
			},
			fixed: fixed("deliver_policy"),
		},
		{
			name:  "ack_policy",
			text:  func(c jetstream.ConsumerConfig) string { return jsonText(c.AckPolicy) },
			set:   func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) { dst.AckPolicy = src.AckPolicy },
			fixed: fixed("ack_policy"),
		},
		{
			name:  "replay_policy",
			text:  func(c jetstream.ConsumerConfig) string { return jsonText(c.ReplayPolicy) },
			set:   func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) { dst.ReplayPolicy = src.ReplayPolicy },
			fixed: fixed("replay_policy"),
		},
		{
			name:  "ack_wait",
			text:  func(c jetstream.ConsumerConfig) string { return durationText(c.AckWait) },
			set:   func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) { dst.AckWait = src.AckWait },
			fixed: changeable[jetstream.ConsumerConfig],
		},
		{
			name:  "max_deliver",
			text:  func(c jetstream.ConsumerConfig) string { return strconv.Itoa(c.MaxDeliver) },
			set:   func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) { dst.MaxDeliver = src.MaxDeliver },
			fixed: changeable[jetstream.ConsumerConfig],
		},
		{
			name: "max_ack_pending",
			text: func(c jetstream.ConsumerConfig) string { return strconv.Itoa(c.MaxAckPending) },
			set: func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) {
				dst.MaxAckPending = src.MaxAckPending
			},
			fixed: changeable[jetstream.ConsumerConfig],
		},
		{
			// Partitioned mode pins the bridge's consumers to one bridge at a time
			// (nats-server 2.11 on; an older server keeps none, and shows this change
			// again every time).
			name: "priority_policy",
			text: func(c jetstream.ConsumerConfig) string {
				if c.PriorityPolicy == jetstream.PriorityPolicyNone {
					return "none"
				}
				return fmt.Sprintf("%s %v pinned_ttl %s", jsonText(c.PriorityPolicy), c.PriorityGroups, durationText(c.PinnedTTL))
			},
			set: func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) {
				dst.PriorityPolicy, dst.PriorityGroups, dst.PinnedTTL = src.PriorityPolicy, src.PriorityGroups, src.PinnedTTL
			},
			fixed: changeable[jetstream.ConsumerConfig],
		},
		{
			// 0: the consumer has its stream's replicas, and follows them when they change.
			name: "num_replicas",
			text: func(c jetstream.ConsumerConfig) string {
				if c.Replicas == 0 {
					return "0 (the stream's)"
				}
				return strconv.Itoa(c.Replicas)
			},
			set:   func(dst *jetstream.ConsumerConfig, src jetstream.ConsumerConfig) { dst.Replicas = src.Replicas },
			fixed: changeable[jetstream.ConsumerConfig],
		},
	}
}

// createConsumerFields lists what a consumer is created with; priority_policy only when
// it has one (partitioned mode).
func createConsumerFields(c jetstream.ConsumerConfig) []Field {
	var out []Field
	for _, f := range consumerFields("") {
		if f.name == "priority_policy" && c.PriorityPolicy == jetstream.PriorityPolicyNone {
			continue
		}
		out = append(out, Field{Name: f.name, To: f.text(c)})
	}
	return out
}

// jsonText is v as its JSON, unquoted: the names `nats ... info --json` shows.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.Trim(string(b), `"`)
}

// durationText is d without zero minutes and seconds: 10m, 168h, 1h30m.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func limitText(d time.Duration) string {
	if d <= 0 {
		return "unlimited"
	}
	return durationText(d)
}

func bytesText(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

// placementText is p normalized: no placement and an empty one are the same; the order
// of the tags does not matter.
func placementText(p *jetstream.Placement) string {
	if p == nil || (p.Cluster == "" && len(p.Tags) == 0) {
		return "none"
	}
	var parts []string
	if p.Cluster != "" {
		parts = append(parts, "cluster:"+p.Cluster)
	}
	if len(p.Tags) > 0 {
		tags := slices.Clone(p.Tags)
		slices.Sort(tags)
		parts = append(parts, "tags:"+strings.Join(tags, ","))
	}
	return strings.Join(parts, " ")
}
