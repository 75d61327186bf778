// Package runstate owns every Redis key the project writes besides
// asynq's own: per-run counters and phase spans, live progress, the runs
// registry and its attempts, watch states, run-wide write windows and the
// lease that makes one process the owner of a live run. Key names are in
// keys.go and nowhere else.
package runstate
