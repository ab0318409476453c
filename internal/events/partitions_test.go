package events_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowbridge/flowbridge/internal/events"
)

// PartitionOf is 32-bit FNV-1a modulo the count, so that a bridge of any version (or a
// tool in another language) puts a workflow id on the same partition: the expected
// values are the FNV-1a test vectors of its specification (draft-eastlake-fnv).
func TestPartitionOfIsFNV1a(t *testing.T) {
	for _, tt := range []struct {
		key  string
		hash uint32
	}{
		{"", 0x811c9dc5},
		{"a", 0xe40c292c},
		{"foobar", 0xbf9cf968},
	} {
		for _, n := range []int{1, 7, 16, 256} {
			require.Equal(t, int(tt.hash%uint32(n)), events.PartitionOf(tt.key, n), "key %q over %d partitions", tt.key, n)
		}
	}
}
