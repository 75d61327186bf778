package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/betterread/pipeline/shared/connect"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/tasks"
)

// Register adds the block-task handlers to mux, timed by phase.
func Register(mux *asynq.ServeMux, d *Deps) {
	mux.Use(d.timed)
	mux.Handle(tasks.TypeALSSolve, ALSSolve{d})
	mux.Handle(tasks.TypeSimPair, SimPair{d})
	mux.Handle(tasks.TypeSimMerge, SimMerge{d})
	mux.Handle(tasks.TypeLoadWrite, LoadWrite{d})
}

// TaskCheckInterval is how soon an idle asynq server looks for new work.
// asynq's default of 1 s would add up to a second of nothing at each of the
// run's barriers.
const TaskCheckInterval = 10 * time.Millisecond

// ServerConfig is the asynq configuration of a block worker.
func ServerConfig(concurrency int, logger *slog.Logger) asynq.Config {
	return asynq.Config{
		Concurrency:       concurrency,
		Queues:            map[string]int{tasks.QueueBlocks: 1},
		TaskCheckInterval: TaskCheckInterval,
		Logger:            connect.AsynqLogger(logger),
		LogLevel:          asynq.WarnLevel,
		ShutdownTimeout:   20 * time.Second,
		RetryDelayFunc:    RetryDelay,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			id, _ := asynq.GetTaskID(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			logger.Warn("task_failed", "type", t.Type(), "task_id", id, "retry", retried, "max_retry", maxRetry, "err", err)
		}),
	}
}

// RetryDelay is how long a failed block task waits before its next try:
// 1 s, 2 s, 4 s … up to a minute, with up to 50 % jitter. asynq's default
// (minutes after the first tries) would stall the run's barrier for a
// transient fault.
func RetryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := time.Minute
	if n < 6 {
		d = time.Second << n
	}
	return d + rand.N(d/2+1)
}

// Phase names the barrier a block task belongs to, as the coordinator's
// report does: "train:003:items", "similarity", "similarity:merge" or "load"; "" for a
// payload it cannot read (the handler then reports the error).
func Phase(t *asynq.Task) (run, phase string) {
	var p struct {
		Run       string `json:"run"`
		Iteration int    `json:"iteration"`
		Side      string `json:"side"`
	}
	if json.Unmarshal(t.Payload(), &p) != nil {
		return "", ""
	}
	switch t.Type() {
	case tasks.TypeALSSolve:
		return p.Run, tasks.ALSSolve{Iteration: p.Iteration, Side: p.Side}.Phase()
	case tasks.TypeSimPair:
		return p.Run, tasks.PhaseSimilarity
	case tasks.TypeSimMerge:
		return p.Run, tasks.PhaseMerge
	case tasks.TypeLoadWrite:
		return p.Run, tasks.PhaseLoad
	}
	return p.Run, ""
}

// timed is middleware recording each block task's execution: its
// milliseconds per task type, and the span of its phase (first start, last
// end) for the coordinator's coordination-overhead figures.
func (d *Deps) timed(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		end := time.Now()
		run, phase := Phase(t)
		if run != "" && phase != "" && d.Counter != nil {
			d.Counter.Add(ctx, run, "task_ms:"+t.Type(), end.Sub(start).Milliseconds())
			d.Counter.Span(ctx, run, phase, start, end)
		}
		return err
	})
}
