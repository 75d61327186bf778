package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/betterread/pipeline/shared/tasks"
)

// Register adds the block-task handlers to mux.
func Register(mux *asynq.ServeMux, d *Deps) {
	mux.Handle(tasks.TypeALSSolve, ALSSolve{d})
	mux.Handle(tasks.TypeSimTopK, SimTopK{d})
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
		Logger:            AsynqLogger(logger),
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

// AsynqLogger adapts a slog.Logger to asynq's printf-style Logger.
func AsynqLogger(l *slog.Logger) asynq.Logger { return asynqLogger{l.With("component", "asynq")} }

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// RedisCounter keeps per-run counters in one Redis hash per run.
type RedisCounter struct {
	Client redis.UniversalClient
	Logger *slog.Logger
}

// CounterKey is the Redis hash holding run's counters.
func CounterKey(run string) string { return "betterread:run:" + run + ":counters" }

// Add implements Counter. Counters are for the report; a failure to count
// is logged, never fails a task.
func (c RedisCounter) Add(ctx context.Context, run, name string, n int64) {
	if err := c.Client.HIncrBy(ctx, CounterKey(run), name, n).Err(); err != nil && c.Logger != nil {
		c.Logger.Warn("count_failed", "run_id", run, "counter", name, "err", err)
	}
}

// Counters reads run's counters.
func Counters(ctx context.Context, client redis.UniversalClient, run string) (map[string]int64, error) {
	m, err := client.HGetAll(ctx, CounterKey(run)).Result()
	if err != nil {
		return nil, fmt.Errorf("read counters of run %s: %w", run, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		var n int64
		fmt.Sscan(v, &n)
		out[k] = n
	}
	return out, nil
}
