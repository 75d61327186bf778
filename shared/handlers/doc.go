// Package handlers holds the block-task handlers, one file per task kind:
// als:solve, sim:pair, sim:merge and load:write. A worker process registers them on its
// asynq server; the coordinator's embedded mode registers the very same
// handlers on an in-process server, so one machine and a cluster run one
// code path.
//
// Handlers are idempotent: each reads inputs named by its payload from the
// block store, computes, and writes its output to a key derived from the
// payload. A task delivered twice writes the same bytes twice.
//
// (DESIGN.md places handlers under worker/; they live in shared/ because the
// coordinator's embedded mode must run them too, and coordinator/ and worker/
// never import each other.)
package handlers
