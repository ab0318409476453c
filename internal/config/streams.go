package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"
)

// Streams are the settings of the JetStream streams flowbridge uses (EVENTS, EVENTS_DLQ,
// EVENTS_WAITING) beyond EVENTS_DUPLICATE_WINDOW: `bridge setup` creates and updates the
// streams with them, and a bridge with BRIDGE_PROVISION creates the missing ones with them.
// The durable consumers have the replicas of their stream.
type Streams struct {
	// Replicas of every stream (EVENTS_REPLICAS): 1 to 5; 3 on a NATS cluster.
	Replicas int
	// Storage of every stream (EVENTS_STORAGE): "file" or "memory". NATS cannot change the
	// storage of an existing stream.
	Storage string
	// PlacementCluster and PlacementTags place every stream on a cluster and on servers
	// with all of these tags (EVENTS_PLACEMENT_CLUSTER, EVENTS_PLACEMENT_TAGS); empty: where
	// NATS chooses.
	PlacementCluster string
	PlacementTags    []string
	// DLQMaxAge and DLQMaxBytes bound EVENTS_DLQ (DLQ_MAX_AGE, DLQ_MAX_BYTES); 0: no limit.
	// Dead letters older than DLQMaxAge are deleted; a DLQ at DLQMaxBytes refuses new dead
	// letters, so the bridge keeps those events on EVENTS and retries them.
	DLQMaxAge   time.Duration
	DLQMaxBytes int64
	// Partitions (EVENTS_PARTITIONS), above 0, is partitioned mode: order per workflow id
	// across bridge replicas, through EVENTS_PARTITIONS with this many partitions. Every
	// bridge must run with the same count. 0 (the default): off.
	Partitions int
}

// Stream storage types (EVENTS_STORAGE).
const (
	StorageFile   = "file"
	StorageMemory = "memory"
)

// minDLQBytes is the least DLQ_MAX_BYTES other than 0: one dead letter can be as large as
// the server's max_payload, 1 MiB by default.
const minDLQBytes = 1 << 20

func (s *Streams) register(fs *flag.FlagSet, env func(string) string, errs *[]error) {
	intVar(fs, &s.Replicas, "events-replicas", "EVENTS_REPLICAS", env, 1, "replicas of every stream (EVENTS, EVENTS_DLQ, EVENTS_WAITING, EVENTS_DEBOUNCE, EVENTS_BATCH): 1 to 5, 3 on a NATS cluster", errs)
	fs.StringVar(&s.Storage, "events-storage", or(env("EVENTS_STORAGE"), StorageFile), "storage of the streams: file or memory (EVENTS_STORAGE)")
	fs.StringVar(&s.PlacementCluster, "events-placement-cluster", env("EVENTS_PLACEMENT_CLUSTER"), "NATS cluster the streams are placed in; empty: any (EVENTS_PLACEMENT_CLUSTER)")
	s.PlacementTags = SecretList(env("EVENTS_PLACEMENT_TAGS"))
	fs.Var(listFlag{&s.PlacementTags}, "events-placement-tags", "server tags the streams are placed by, comma-separated (EVENTS_PLACEMENT_TAGS)")
	intVar(fs, &s.Partitions, "events-partitions", "EVENTS_PARTITIONS", env, 0, "partitioned mode: order per workflow id across bridge replicas, over this many partitions (1 to 256; every bridge the same); 0: off", errs)
	durationVar(fs, &s.DLQMaxAge, "dlq-max-age", "DLQ_MAX_AGE", env, 0, "EVENTS_DLQ deletes dead letters older than this; 0: kept until replayed or purged", errs)
	if v := env("DLQ_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			*errs = append(*errs, invalid("DLQ_MAX_BYTES", fmt.Sprintf("%q is not a whole number of bytes", v)))
		}
		s.DLQMaxBytes = n
	}
	fs.Int64Var(&s.DLQMaxBytes, "dlq-max-bytes", s.DLQMaxBytes, "most bytes EVENTS_DLQ holds, then it refuses new dead letters; 0: no limit (DLQ_MAX_BYTES)")
}

// listFlag is a comma-separated list flag.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Type() string { return "list" }

func (l listFlag) Set(v string) error {
	*l.p = SecretList(v)
	return nil
}

// validate checks the settings; duplicateWindow is EVENTS_DUPLICATE_WINDOW, which a
// stream's max age must not be shorter than.
func (s *Streams) validate(duplicateWindow time.Duration) []error {
	var errs []error
	if s.Replicas < 1 || s.Replicas > 5 {
		errs = append(errs, invalid("EVENTS_REPLICAS", fmt.Sprintf("%d must be between 1 and 5 (NATS's most)", s.Replicas)))
	}
	if s.Partitions < 0 || s.Partitions > 256 {
		errs = append(errs, invalid("EVENTS_PARTITIONS", fmt.Sprintf("%d must be between 0 (off) and 256", s.Partitions)))
	}
	if s.Storage != StorageFile && s.Storage != StorageMemory {
		errs = append(errs, invalid("EVENTS_STORAGE", fmt.Sprintf("%q is not file or memory", s.Storage)))
	}
	if s.DLQMaxAge < 0 || (s.DLQMaxAge > 0 && s.DLQMaxAge < duplicateWindow) {
		errs = append(errs, invalid("DLQ_MAX_AGE", fmt.Sprintf("%s must be 0 (no limit) or at least EVENTS_DUPLICATE_WINDOW (%s): NATS keeps a stream's messages at least its duplicate window", s.DLQMaxAge, duplicateWindow)))
	}
	if s.DLQMaxBytes < 0 || (s.DLQMaxBytes > 0 && s.DLQMaxBytes < minDLQBytes) {
		errs = append(errs, invalid("DLQ_MAX_BYTES", fmt.Sprintf("%d must be 0 (no limit) or at least %d: one dead letter can be as large as the server's max_payload (1 MiB by default)", s.DLQMaxBytes, minDLQBytes)))
	}
	return errs
}

// boolVarOr is boolVar with a default other than false.
func boolVarOr(fs *flag.FlagSet, p *bool, name, envName string, env func(string) string, def bool, usage string, errs *[]error) {
	v := def
	if s := env(envName); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			*errs = append(*errs, invalid(envName, fmt.Sprintf("%q is not true or false", s)))
		} else {
			v = b
		}
	}
	fs.BoolVar(p, name, v, usage+" ("+envName+")")
}
