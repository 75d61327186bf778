package runstate

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter records per-run task statistics (tasks run, retried, bytes
// fetched) and phase spans where the coordinator reads them for the report.
type Counter interface {
	Add(ctx context.Context, run, name string, n int64)
	// Span widens phase's span to include a task that ran start..end.
	Span(ctx context.Context, run, phase string, start, end time.Time)
}

// Counter names shared by the workers that write them and the coordinator
// that reads them.
const (
	// FetchedPrefix starts the names of per-worker fetch counters:
	// "bytes_fetched:<phase>@<worker>", phase being e.g. "train:003:items".
	FetchedPrefix = "bytes_fetched:"
	// CorruptPrefix counts blocks found corrupt, by producing task kind:
	// "blocks_corrupt:<kind>"; each one made its producer run again.
	CorruptPrefix = "blocks_corrupt:"
)

// spanTTL is how long phase spans are kept.
const spanTTL = 7 * 24 * time.Hour

// RedisCounter keeps per-run counters in one Redis hash per run.
type RedisCounter struct {
	Client redis.UniversalClient
	Logger *slog.Logger
}

// Add implements Counter. Counters are for the report; a failure to count
// is logged, never fails a task.
func (c RedisCounter) Add(ctx context.Context, run, name string, n int64) {
	if err := c.Client.HIncrBy(ctx, countersKey(run), name, n).Err(); err != nil && c.Logger != nil {
		c.Logger.Warn("count_failed", "run_id", run, "counter", name, "err", err)
	}
}

// Span implements Counter: it keeps the earliest start and the latest end
// of phase's tasks.
func (c RedisCounter) Span(ctx context.Context, run, phase string, start, end time.Time) {
	first, last := phaseFirstKey(run), phaseLastKey(run)
	pipe := c.Client.Pipeline()
	pipe.ZAddLT(ctx, first, redis.Z{Score: float64(start.UnixMilli()), Member: phase})
	pipe.ZAddGT(ctx, last, redis.Z{Score: float64(end.UnixMilli()), Member: phase})
	pipe.Expire(ctx, first, spanTTL)
	pipe.Expire(ctx, last, spanTTL)
	if _, err := pipe.Exec(ctx); err != nil && c.Logger != nil {
		c.Logger.Warn("span_failed", "run_id", run, "phase", phase, "err", err)
	}
}

// Counters reads run's counters.
func Counters(ctx context.Context, client redis.UniversalClient, run string) (map[string]int64, error) {
	m, err := client.HGetAll(ctx, countersKey(run)).Result()
	if err != nil {
		return nil, fmt.Errorf("read counters of run %s: %w", run, err)
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("counter %s of run %s holds %q: %w", k, run, v, err)
		}
		out[k] = n
	}
	return out, nil
}

// Spans reads run's phase spans: phase → [first start, last end].
func Spans(ctx context.Context, client redis.UniversalClient, run string) (map[string][2]time.Time, error) {
	first, err := client.ZRangeWithScores(ctx, phaseFirstKey(run), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read phase spans of run %s: %w", run, err)
	}
	last, err := client.ZRangeWithScores(ctx, phaseLastKey(run), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read phase spans of run %s: %w", run, err)
	}
	out := map[string][2]time.Time{}
	for i, zs := range [][]redis.Z{first, last} {
		for _, z := range zs {
			name, _ := z.Member.(string)
			s := out[name]
			s[i] = time.UnixMilli(int64(z.Score))
			out[name] = s
		}
	}
	return out, nil
}

// ResetGeneration removes run's counters, phase spans and progress: a run
// written anew counts from zero. Attempts and the lease are kept.
func ResetGeneration(ctx context.Context, client redis.UniversalClient, run string) error {
	if err := client.Del(ctx, generationKeys(run)...).Err(); err != nil {
		return fmt.Errorf("reset counters of run %s in redis: %w", run, err)
	}
	return nil
}
