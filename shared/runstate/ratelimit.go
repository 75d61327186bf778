package runstate

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RunRateLimiter bounds the items per second that all load tasks of one
// run send to DynamoDB together, on every worker, like Glue's
// dynamodb.throughput.write.percent bounds a job. It counts items in
// one-second windows in Redis (key Key:<unix second>, expiring after a
// few seconds): a batch that would take its window over Rate waits for the
// next one. A window's first batch always goes, so a batch is never
// refused for being larger than Rate. Fixed windows allow up to twice
// Rate across a window boundary; over longer spans the rate holds.
type RunRateLimiter struct {
	Client redis.UniversalClient
	Key    string
	Rate   float64 // items per second, across the run

	now   func() time.Time                                 // time.Now in production
	sleep func(ctx context.Context, d time.Duration) error // sleepCtx in production
}

// NewRunRateLimiter returns the limiter of run's writes.
func NewRunRateLimiter(client redis.UniversalClient, run string, rate float64) *RunRateLimiter {
	return &RunRateLimiter{Client: client, Key: writeWindowKey(run), Rate: rate, now: time.Now, sleep: sleepCtx}
}

// WaitN implements dynamo.Limiter.
func (l *RunRateLimiter) WaitN(ctx context.Context, n int) error {
	limit := int64(l.Rate)
	for {
		now := l.now()
		key := fmt.Sprintf("%s:%d", l.Key, now.Unix())
		pipe := l.Client.TxPipeline()
		incr := pipe.IncrBy(ctx, key, int64(n))
		pipe.Expire(ctx, key, 10*time.Second)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("run write limit in redis: %w", err)
		}
		if v := incr.Val(); v <= limit || v == int64(n) {
			return nil
		}
		// Over: the window's count stays inflated, which only holds back
		// other batches of this same, full window.
		next := now.Truncate(time.Second).Add(time.Second)
		if err := l.sleep(ctx, next.Sub(now)); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
