package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

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
	began := time.Now()
	t := Tasks{Blocks: int64(len(bts))}
	have, err := x.rs.Present(ctx, prefix)
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
	if err := x.enqueueMissing(ctx, missing, &t); err != nil {
		return t, err
	}
	if err := x.waitBlocks(ctx, prefix, len(bts), missing, &t, progress); err != nil {
		return t, err
	}
	if t.Enqueued > 0 {
		x.phases = append(x.phases, phaseTime{phase: phase, began: began, ended: time.Now()})
	}
	return t, nil
}

// enqueueMissing enqueues the tasks of the missing blocks. A resumed run
// may find its tasks archived from an earlier attempt: each gets one more
// go; a task completed in Redis whose output is gone runs again.
func (x *run) enqueueMissing(ctx context.Context, missing []blockTask, t *Tasks) error {
	r := x.Runner
	for _, bt := range missing {
		info, err := r.Inspector.GetTaskInfo(tasks.QueueBlocks, bt.id)
		if err == nil && info.State == asynq.TaskStateArchived {
			if err := r.Inspector.RunTask(tasks.QueueBlocks, bt.id); err != nil {
				return fmt.Errorf("rerun archived task %s: %w", bt.id, err)
			}
			t.Enqueued++
			continue
		}
		if err == nil && info.State == asynq.TaskStateCompleted {
			if err := r.deleteTask(bt.id); err != nil {
				return err
			}
		}
		if err := r.enqueue(ctx, bt.task, bt.opts...); err != nil {
			return err
		}
		t.Enqueued++
	}
	return nil
}

// waitBlocks polls the store until every missing block's output exists,
// asking Redis about the missing ones at a slower pace.
func (x *run) waitBlocks(ctx context.Context, prefix string, total int, missing []blockTask, t *Tasks, progress func(done, total int)) error {
	progress(total-len(missing), total)
	interval := pollMin
	lastRedis := time.Now()
	suspect := map[string]int{} // completed in Redis but output not seen yet
	for len(missing) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		have, err := x.rs.Present(ctx, prefix)
		if err != nil {
			return err
		}
		still := missing[:0]
		for _, bt := range missing {
			if !have[bt.key] {
				still = append(still, bt)
			}
		}
		if len(still) < len(missing) {
			progress(total-len(still), total)
			interval = pollMin
		} else {
			interval = min(interval*3/2+time.Millisecond, pollMax)
		}
		missing = still
		if len(missing) == 0 || time.Since(lastRedis) < redisCheckEvery {
			continue
		}
		lastRedis = time.Now()
		if err := x.checkRedis(ctx, missing, suspect, t); err != nil {
			return err
		}
	}
	return nil
}

// checkRedis asks Redis about each missing block's task: one Redis lost is
// enqueued again, one archived fails the barrier, one completed twice in a
// row without its output runs again.
func (x *run) checkRedis(ctx context.Context, missing []blockTask, suspect map[string]int, t *Tasks) error {
	r := x.Runner
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
				return err
			}
			t.Requeued++
			r.Logger.Warn("task_requeued", "task_id", bt.id, "reason", "not in redis")
		case err != nil:
			r.Logger.Warn("task_inspect_failed", "task_id", bt.id, "err", err)
		case info.State == asynq.TaskStateArchived:
			return fmt.Errorf("task %s failed after %d retries: %s: %w", bt.id, info.Retried, info.LastErr, errBlockFailed)
		case info.State == asynq.TaskStateCompleted:
			// The store may lag behind Redis by a poll; twice in a row
			// means the output is really missing (removed as corrupt).
			suspect[bt.id]++
			if suspect[bt.id] >= 2 {
				if err := r.deleteTask(bt.id); err != nil {
					return err
				}
				if err := r.enqueue(ctx, bt.task, bt.opts...); err != nil {
					return err
				}
				delete(suspect, bt.id)
				t.Requeued++
			}
		}
	}
	return nil
}

// deleteTask removes a finished block task so its id can be enqueued again.
func (r *Runner) deleteTask(id string) error {
	if err := r.Inspector.DeleteTask(tasks.QueueBlocks, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("delete stale task %s: %w", id, err)
	}
	return nil
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
