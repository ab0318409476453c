package dlq

import (
	"context"
	"fmt"

	"github.com/flowbridge/flowbridge/internal/events"
)

// PurgeOptions tune Purge.
type PurgeOptions struct {
	// DryRun reports what Purge would delete and deletes nothing.
	DryRun bool
	// Progress, when set, is called as for Replay while deleting (not in a dry run).
	// Optional.
	Progress func(done, total int)
}

// Purge deletes the dead letters f selects from EVENTS_DLQ, for good, and returns them
// (in a dry run, the ones it would delete). It reads them first, so a dead letter stored
// while it runs is never deleted unseen. It stops at the first error and returns what it
// deleted until then; it returns ErrNoStream when there is no EVENTS_DLQ stream.
func (q *Queue) Purge(ctx context.Context, f Filter, opts PurgeOptions) ([]DeadLetter, error) {
	dls, err := q.List(ctx, f)
	if err != nil || opts.DryRun {
		return dls, err
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
	for i, dl := range dls {
		if err := deleteMsg(ctx, s, dl.Seq); err != nil {
			return dls[:i], fmt.Errorf("after %d of %d dead letters: %w", i, len(dls), err)
		}
		progress(i+1, len(dls))
	}
	return dls, nil
}
