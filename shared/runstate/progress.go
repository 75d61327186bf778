package runstate

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Progress is what a run publishes while it works: the current stage, and
// for block stages the blocks done of total. Every field is set on every
// update so an observer needs no history.
type Progress struct {
	Run   string `json:"run"`
	Stage string `json:"stage"`
	Step  string `json:"step,omitempty"` // e.g. "iteration 3/10 items"
	Done  int    `json:"done"`
	Total int    `json:"total"`
	// Unit is what Done and Total count, singular: "block" when empty,
	// "block pair", "byte", "item".
	Unit string `json:"unit,omitempty"`
	// Fraction of the stage done, 0..1, for an ETA.
	Fraction  float64   `json:"fraction"`
	Started   time.Time `json:"started"`    // when the stage started
	StepStart time.Time `json:"step_start"` // when the step started
	Status    string    `json:"status"`     // running, succeeded, failed
	// Warning says why the run is not moving (no live worker), if it is not.
	Warning string    `json:"warning,omitempty"`
	Updated time.Time `json:"updated"`
}

// Observer receives progress updates.
type Observer interface {
	Observe(ctx context.Context, p Progress)
}

// ObserverFunc adapts a function.
type ObserverFunc func(ctx context.Context, p Progress)

// Observe implements Observer.
func (f ObserverFunc) Observe(ctx context.Context, p Progress) { f(ctx, p) }

// RedisProgress stores the latest progress of each run in Redis, where
// `coordinator run` (and the status API) read it whichever process runs the
// work.
type RedisProgress struct{ Client redis.UniversalClient }

// Observe implements Observer. Progress is advisory: errors are ignored.
func (r RedisProgress) Observe(ctx context.Context, p Progress) {
	data, err := json.Marshal(p)
	if err != nil {
		return
	}
	r.Client.Set(ctx, progressKey(p.Run), data, 7*24*time.Hour)
}

// ReadProgress returns run's latest progress, or false if there is none.
func ReadProgress(ctx context.Context, c redis.UniversalClient, run string) (Progress, bool) {
	var p Progress
	data, err := c.Get(ctx, progressKey(run)).Bytes()
	if err != nil || json.Unmarshal(data, &p) != nil {
		return p, false
	}
	return p, true
}

// ProgressRuns lists the runs that have published progress (SCAN: for
// tools and tests, not for hot paths).
func ProgressRuns(ctx context.Context, c redis.UniversalClient) ([]string, error) {
	var runs []string
	iter := c.Scan(ctx, 0, progressKey("*"), 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		run := strings.TrimSuffix(strings.TrimPrefix(k, prefix+"run:"), ":progress")
		runs = append(runs, run)
	}
	return runs, iter.Err()
}
