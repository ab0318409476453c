// Package workflows holds flowbridge's Temporal workflows, and the names by which the
// bridge, the worker and the routes refer to them.
//
// Everything here runs inside Temporal's deterministic replay, so the code obeys its
// rules: no time.Now (workflow.Now), no goroutines, channels or select (workflow.Go,
// workflow.NewSelector), no map iteration where order matters, no randomness, no I/O and no
// process logger (workflow.GetLogger). Configuration a workflow needs is read once through
// workflow.SideEffect, so a replay sees the value the first run saw. `make lint` runs
// workflowcheck over this package.
package workflows
