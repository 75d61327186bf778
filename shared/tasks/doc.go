// Package tasks is the contract between the coordinator and the workers:
// task type names, payload structs, and New…/Parse… pairs. Payloads are small
// JSON documents that name a run and a block; the data itself lives in the
// block store under keys derived from the payload (see store.Keys). Task ids
// are derived from the payload, so enqueueing the same work twice is
// harmless: asynq answers ErrTaskIDConflict and the caller treats that as
// success.
package tasks
