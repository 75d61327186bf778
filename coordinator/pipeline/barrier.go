package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	w := &watch{began: time.Now(), suspect: map[string]int{}, backups: map[string]string{}, active: map[string]time.Time{}}
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
				continue
			}
			x.blockDone(bt, w, t)
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
		if err := x.checkRedis(ctx, missing, w, t); err != nil {
			return err
		}
	}
	return nil
}

// watch is what a barrier keeps while it waits: when it began, how long
// finished blocks took, the backups it started, and since when no worker
// serves the blocks queue.
type watch struct {
	began     time.Time
	durations []time.Duration      // since began, in order of appearance: sorted
	suspect   map[string]int       // completed in Redis but output not seen yet
	backups   map[string]string    // task id → its backup's id
	active    map[string]time.Time // task id → when this barrier first saw it active
	noWorkers time.Time            // zero while some worker serves the blocks queue
}

// Backup timing: a block task held by a worker that no longer heartbeats
// (dead, or hung and so not renewing its server info, which asynq writes
// every 5 s and expires after 10 s: a task active for longer than
// orphanAfter that no live server lists is held by such a worker), or
// running longer than both backupFactor × the phase's
// median and backupMin, gets a copy under another task id. Outputs are
// deterministic and written atomically: the first copy to finish wins and
// the other rewrites the same bytes.
const (
	backupFactor = 3
	backupMin    = 10 * time.Second
	orphanAfter  = 11 * time.Second
	// noWorkerWarn is how long no live worker may serve the blocks queue
	// before the run says so.
	noWorkerWarn = 10 * time.Second
)

// blockDone records a block whose output appeared, and whether its backup
// finished first.
func (x *run) blockDone(bt blockTask, w *watch, t *Tasks) {
	w.durations = append(w.durations, time.Since(w.began))
	backup, ok := w.backups[bt.id]
	if !ok {
		return
	}
	if info, err := x.Inspector.GetTaskInfo(tasks.QueueBlocks, backup); err == nil && info.State == asynq.TaskStateCompleted {
		if orig, err := x.Inspector.GetTaskInfo(tasks.QueueBlocks, bt.id); err != nil || orig.State != asynq.TaskStateCompleted {
			t.BackupWon++
		}
	}
}

// checkRedis asks Redis about each missing block's task: one Redis lost is
// enqueued again, one archived fails the barrier, one completed twice in a
// row without its output runs again, one held by a worker that is gone or
// stuck gets a backup copy.
func (x *run) checkRedis(ctx context.Context, missing []blockTask, w *watch, t *Tasks) error {
	r := x.Runner
	held := x.heldTasks(w)
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
			// Redis is unwell: one line, and the rest wait for the next look.
			r.Logger.Warn("task_inspect_failed", "task_id", bt.id, "err", err)
			return nil
		case info.State == asynq.TaskStateArchived:
			return fmt.Errorf("task %s failed after %d retries: %s: %w", bt.id, info.Retried, info.LastErr, errBlockFailed)
		case info.State == asynq.TaskStateCompleted:
			// The store may lag behind Redis by a poll; twice in a row
			// means the output is really missing (removed as corrupt).
			w.suspect[bt.id]++
			if w.suspect[bt.id] >= 2 {
				if err := r.deleteTask(bt.id); err != nil {
					return err
				}
				if err := r.enqueue(ctx, bt.task, bt.opts...); err != nil {
					return err
				}
				delete(w.suspect, bt.id)
				t.Requeued++
			}
		case info.State == asynq.TaskStateActive && held != nil:
			if err := x.maybeBackup(ctx, bt, held, w, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// heldTasks maps the block tasks live workers are running to when they
// started; nil if Redis could not say. It also warns when no live worker
// serves the blocks queue.
func (x *run) heldTasks(w *watch) map[string]time.Time {
	servers, err := x.Inspector.Servers()
	if err != nil {
		x.log.Warn("servers_unavailable", "err", err)
		return nil
	}
	held := map[string]time.Time{}
	serving := false
	for _, s := range servers {
		if _, ok := s.Queues[tasks.QueueBlocks]; ok {
			serving = true
		}
		for _, wk := range s.ActiveWorkers {
			held[wk.TaskID] = wk.Started
		}
	}
	switch {
	case serving:
		if !w.noWorkers.IsZero() {
			x.log.Info("workers_back", "after_s", time.Since(w.noWorkers).Seconds())
			x.warn("")
		}
		w.noWorkers = time.Time{}
	case w.noWorkers.IsZero():
		w.noWorkers = time.Now()
	case time.Since(w.noWorkers) >= noWorkerWarn:
		msg := fmt.Sprintf("no live worker has served the %s queue for %.0f s: start workers (worker --redis … --store …)", tasks.QueueBlocks, time.Since(w.noWorkers).Seconds())
		x.log.Warn("no_workers", "queue", tasks.QueueBlocks, "seconds", time.Since(w.noWorkers).Seconds())
		x.warn(msg)
	}
	return held
}

// maybeBackup starts a backup copy of an active block task whose worker
// is gone or which runs far longer than its phase's median.
func (x *run) maybeBackup(ctx context.Context, bt blockTask, held map[string]time.Time, w *watch, t *Tasks) error {
	if _, ok := w.backups[bt.id]; ok {
		return nil
	}
	seen, ok := w.active[bt.id]
	if !ok {
		w.active[bt.id] = time.Now()
		return nil
	}
	started, alive := held[bt.id]
	reason := ""
	switch {
	case !alive && time.Since(seen) > orphanAfter:
		reason = "its worker stopped heartbeating"
	case alive && len(w.durations) > 0 && time.Since(started) > max(backupFactor*w.durations[len(w.durations)/2], backupMin):
		reason = fmt.Sprintf("running %.0f s, over %d× the phase's median", time.Since(started).Seconds(), backupFactor)
	default:
		return nil
	}
	id := bt.id + ":backup:" + x.plan.Gen // a new generation's backup is a new task
	opts := append(slices.Clone(bt.opts), asynq.TaskID(id))
	if err := x.enqueue(ctx, bt.task, opts...); err != nil {
		return err
	}
	w.backups[bt.id] = id
	t.Speculated++
	x.log.Warn("task_backup", "task_id", bt.id, "backup_id", id, "reason", reason)
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
