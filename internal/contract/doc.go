// Package contract is flowbridge's own contract in Go: the event types and the data each
// carries, the event envelope workflows receive, the names of workflows, signals, memo
// keys and search attributes, the Temporal error types, and the id conventions of result
// events. Every producer and consumer of an event uses it — the ingress, the routes, the
// bridge, the workflows, the activities, the schedules and `bridge setup` — so none can
// drift from another; a test holds each payload struct against its JSON Schema in
// schemas/, the language-neutral form of the same contract (docs/CONTRACT.md).
//
// The package knows nothing of Temporal's SDK or of NATS: it only names and shapes what
// they carry, so the bridge can link it without linking workflow code.
package contract
