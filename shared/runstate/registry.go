package runstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The runs registry (runsKey) is a sorted set scored by when each run was
// first started (Unix ms): what `GET /runs` and `coordinator status` list.

// maxRuns is how many runs the set keeps.
const maxRuns = 1000

// RegisterRun records that run was started (once: a later call keeps the
// first time).
func RegisterRun(ctx context.Context, rc redis.UniversalClient, run string, at time.Time) error {
	pipe := rc.TxPipeline()
	pipe.ZAddNX(ctx, runsKey, redis.Z{Score: float64(at.UnixMilli()), Member: run})
	pipe.ZRemRangeByRank(ctx, runsKey, 0, -maxRuns-1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("register run %s: %w", run, err)
	}
	return nil
}

// RunRegistered reports whether run was started before.
func RunRegistered(ctx context.Context, rc redis.UniversalClient, run string) (bool, error) {
	_, err := rc.ZScore(ctx, runsKey, run).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// RecentRuns returns up to n run ids, newest first, with their start times.
func RecentRuns(ctx context.Context, rc redis.UniversalClient, n int) ([]string, []time.Time, error) {
	zs, err := rc.ZRevRangeWithScores(ctx, runsKey, 0, int64(n-1)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list runs: %w", err)
	}
	ids := make([]string, len(zs))
	at := make([]time.Time, len(zs))
	for i, z := range zs {
		ids[i], at[i] = z.Member.(string), time.UnixMilli(int64(z.Score)).UTC()
	}
	return ids, at, nil
}

// WatchState is what the coordinator last made of a watched upload
// location: "waiting" (one file missing), "invalid" (the pair failed
// validation), "started" or "seen" (the pair's run exists).
type WatchState struct {
	Watch   string    `json:"watch"`
	State   string    `json:"state"`
	Message string    `json:"message"`
	Run     string    `json:"run,omitempty"`
	Books   string    `json:"books_version,omitempty"`
	Ratings string    `json:"ratings_version,omitempty"`
	Updated time.Time `json:"updated"`
}

// SetWatch records a watch's state.
func SetWatch(ctx context.Context, rc redis.UniversalClient, w WatchState) error {
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if err := rc.HSet(ctx, watchesKey, w.Watch, data).Err(); err != nil {
		return fmt.Errorf("record state of %s: %w", w.Watch, err)
	}
	return nil
}

// Watches returns every watch's last state.
func Watches(ctx context.Context, rc redis.UniversalClient) ([]WatchState, error) {
	m, err := rc.HGetAll(ctx, watchesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read watch states: %w", err)
	}
	out := make([]WatchState, 0, len(m))
	for _, v := range m {
		var w WatchState
		if json.Unmarshal([]byte(v), &w) == nil {
			out = append(out, w)
		}
	}
	return out, nil
}
