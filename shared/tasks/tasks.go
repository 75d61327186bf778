package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Queue names. Pipeline runs and block work are separate queues so a
// coordinator waiting on a barrier never holds a slot a block task needs.
const (
	QueuePipeline = "pipeline"
	QueueBlocks   = "blocks"
	// QueueHooks holds the looks at watched upload locations, served by
	// `coordinator serve` apart from runs (which take hours).
	QueueHooks = "hooks"
)

// MaxPayloadBytes bounds what Parse functions accept; payloads only name
// keys, so anything bigger is malformed.
const MaxPayloadBytes = 64 << 10

// ErrBadPayload marks a payload that can never be processed; it wraps
// asynq.SkipRetry so asynq archives the task instead of retrying it.
var ErrBadPayload = fmt.Errorf("bad task payload: %w", asynq.SkipRetry)

// Retention keeps a completed task's id in Redis for this long, so a
// re-enqueue of finished work is answered with ErrTaskIDConflict.
const Retention = 24 * time.Hour

func decode(kind string, data []byte, v interface{ validate() error }) error {
	if len(data) > MaxPayloadBytes {
		return fmt.Errorf("%s payload of %d bytes exceeds %d: %w", kind, len(data), MaxPayloadBytes, ErrBadPayload)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s payload: %v: %w", kind, err, ErrBadPayload)
	}
	if err := v.validate(); err != nil {
		return fmt.Errorf("%s payload: %v: %w", kind, err, ErrBadPayload)
	}
	return nil
}

func newTask(kind, id string, v any, opts ...asynq.Option) (*asynq.Task, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", kind, err)
	}
	base := []asynq.Option{asynq.TaskID(id), asynq.Retention(Retention)}
	return asynq.NewTask(kind, data, append(base, opts...)...), nil
}

func CheckRun(run string) error {
	if run == "" {
		return errors.New("empty run id")
	}
	if len(run) > 128 {
		return errors.New("run id longer than 128 bytes")
	}
	for _, c := range run {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("run id %q has character %q outside [A-Za-z0-9._-]", run, c)
		}
	}
	return nil
}
