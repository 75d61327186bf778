package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// blockTask is one task of a barrier and the store key its success writes.
type blockTask struct {
	task *asynq.Task
	id   string
	key  string
	opts []asynq.Option // enqueue options over the task's own
}

// Barrier timing. The store is the source of truth: a block is done when
// its output key exists, whatever Redis says, so a barrier can always be
// recomputed after a crash or a Redis restart. The store is polled with a
// backoff that resets on progress; Redis is only asked, at a slower pace,
// about blocks that are still missing.
const (
	pollMin         = 5 * time.Millisecond
	pollMax         = 200 * time.Millisecond
	redisCheckEvery = time.Second
)

// await enqueues the tasks whose outputs are missing and waits until every
// output key under prefix exists. It re-enqueues tasks Redis has lost and
// fails when a task is archived (it failed beyond its retries).
func (x *run) await(ctx context.Context, phase, prefix string, bts []blockTask, progress func(done, total int)) (Tasks, error) {
	r := x.Runner
	began := time.Now()
	var t Tasks
	t.Blocks = int64(len(bts))
	have, err := r.present(ctx, prefix)
	if err != nil {
		return t, err
	}
	missing := make([]blockTask, 0, len(bts))
	for _, bt := range bts {
		if have[bt.key] {
			t.Resumed++
			continue
		}
		missing = append(missing, bt)
	}
	// A resumed run may find its tasks archived from an earlier attempt:
	// give each one more go before waiting.
	for _, bt := range missing {
		info, err := r.Inspector.GetTaskInfo(tasks.QueueBlocks, bt.id)
		if err == nil && info.State == asynq.TaskStateArchived {
			if err := r.Inspector.RunTask(tasks.QueueBlocks, bt.id); err != nil {
				return t, fmt.Errorf("rerun archived task %s: %w", bt.id, err)
			}
			t.Enqueued++
			continue
		}
		if err == nil && info.State == asynq.TaskStateCompleted {
			// Completed but its output is gone: run it again.
			if err := r.Inspector.DeleteTask(tasks.QueueBlocks, bt.id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return t, fmt.Errorf("delete stale task %s: %w", bt.id, err)
			}
		}
		if err := r.enqueue(ctx, bt.task, bt.opts...); err != nil {
			return t, err
		}
		t.Enqueued++
	}
	total := len(bts)
	done := total - len(missing)
	progress(done, total)
	interval := pollMin
	lastRedis := time.Now()
	suspect := map[string]int{} // completed in Redis but output not seen yet
	for len(missing) > 0 {
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(interval):
		}
		have, err := r.present(ctx, prefix)
		if err != nil {
			return t, err
		}
		still := missing[:0]
		for _, bt := range missing {
			if !have[bt.key] {
				still = append(still, bt)
			}
		}
		if len(still) < len(missing) {
			done = total - len(still)
			progress(done, total)
			interval = pollMin
		} else {
			interval = min(interval*3/2+time.Millisecond, pollMax)
		}
		missing = still
		if len(missing) == 0 || time.Since(lastRedis) < redisCheckEvery {
			continue
		}
		lastRedis = time.Now()
		for _, bt := range missing {
			info, err := r.Inspector.GetTaskInfo(tasks.QueueBlocks, bt.id)
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
				// Redis lost it (restart without persistence, flush): enqueue again.
				enqueue := r.enqueue
				if errors.Is(err, asynq.ErrQueueNotFound) {
					enqueue = r.republish
				}
				if err := enqueue(ctx, bt.task, bt.opts...); err != nil {
					return t, err
				}
				t.Requeued++
				r.Logger.Warn("task_requeued", "task_id", bt.id, "reason", "not in redis")
			case err != nil:
				r.Logger.Warn("task_inspect_failed", "task_id", bt.id, "err", err)
			case info.State == asynq.TaskStateArchived:
				return t, fmt.Errorf("task %s failed after %d retries: %s", bt.id, info.Retried, info.LastErr)
			case info.State == asynq.TaskStateCompleted:
				// The store may lag behind Redis by a poll; twice in a row
				// means the output is really missing.
				suspect[bt.id]++
				if suspect[bt.id] >= 2 {
					if err := r.Inspector.DeleteTask(tasks.QueueBlocks, bt.id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
						return t, fmt.Errorf("delete stale task %s: %w", bt.id, err)
					}
					if err := r.enqueue(ctx, bt.task, bt.opts...); err != nil {
						return t, err
					}
					delete(suspect, bt.id)
					t.Requeued++
				}
			}
		}
	}
	if t.Enqueued > 0 {
		x.phases = append(x.phases, phaseTime{phase: phase, began: began, ended: time.Now()})
	}
	return t, nil
}

// phaseTime is when the coordinator began waiting on a phase (a barrier:
// one ALS half-iteration, the similarity or the load) and saw it done.
type phaseTime struct {
	phase        string
	began, ended time.Time
}

// enqueue adds a task; an id that already exists is success (the task is
// queued, running, or done).
func (r *Runner) enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	_, err := r.Client.EnqueueContext(ctx, t, opts...)
	return enqueued(t, err)
}

// enqueued is the outcome of enqueueing t: a task id that already exists
// is success.
func enqueued(t *asynq.Task, err error) error {
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return fmt.Errorf("enqueue %s: %w", t.Type(), err)
}

// republish enqueues t through a new asynq client. After Redis lost its
// data, asynq's long-lived clients still believe the queue is registered
// (they cache that) and do not register it again, so the inspector cannot
// see the queue's tasks; a new client registers it on its first enqueue,
// even when the task itself is already there.
func (r *Runner) republish(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	if r.RedisOpt == nil {
		return r.enqueue(ctx, t, opts...)
	}
	return Republish(ctx, r.RedisOpt, t, opts...)
}

// Republish enqueues t with a new asynq client (see Runner.republish); a
// task with the same id already queued is success.
func Republish(ctx context.Context, opt asynq.RedisConnOpt, t *asynq.Task, opts ...asynq.Option) error {
	c := asynq.NewClient(opt)
	defer c.Close()
	_, err := c.EnqueueContext(ctx, t, opts...)
	return enqueued(t, err)
}

func (r *Runner) present(ctx context.Context, prefix string) (map[string]bool, error) {
	keys, err := r.Store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m, nil
}

// exists reports whether key is in the store.
func exists(ctx context.Context, st store.Store, key string) (bool, error) {
	_, err := st.Stat(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", key, err)
	}
	return true, nil
}
