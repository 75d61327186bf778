package runstate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Attempt is one delivery of a run to a coordinator: every attempt is
// kept, so a re-run adds one and never overwrites the record of another.
type Attempt struct {
	Number  int        `json:"number"`           // 1, 2, …
	Trigger string     `json:"trigger"`          // cli or upload
	Holder  string     `json:"holder,omitempty"` // who carried it out
	Started time.Time  `json:"started"`          //
	Ended   *time.Time `json:"ended,omitempty"`  // nil while it runs
	Status  string     `json:"status"`           // running, succeeded, failed, interrupted
	Error   string     `json:"error,omitempty"`  //
}

// maxAttempts bounds the list per run.
const maxAttempts = 100

// BeginAttempt records a new attempt of run and returns it with its number.
func BeginAttempt(ctx context.Context, client redis.UniversalClient, run, trigger, holder string, at time.Time) (Attempt, error) {
	a := Attempt{Trigger: trigger, Holder: holder, Started: at.UTC(), Status: "running"}
	n, err := client.LLen(ctx, attemptsKey(run)).Result()
	if err != nil {
		return a, fmt.Errorf("read attempts of run %s: %w", run, err)
	}
	a.Number = int(n) + 1
	data, err := json.Marshal(a)
	if err != nil {
		return a, err
	}
	pipe := client.TxPipeline()
	pipe.RPush(ctx, attemptsKey(run), data)
	pipe.LTrim(ctx, attemptsKey(run), -maxAttempts, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return a, fmt.Errorf("record attempt of run %s: %w", run, err)
	}
	return a, nil
}

// EndAttempt records how attempt a ended: it replaces the newest entry
// with a's number.
func EndAttempt(ctx context.Context, client redis.UniversalClient, run string, a Attempt) error {
	all, err := Attempts(ctx, client, run)
	if err != nil {
		return err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Number == a.Number {
			idx := int64(i - len(all)) // from the end: stable under LTrim of the head
			if err := client.LSet(ctx, attemptsKey(run), idx, data).Err(); err != nil {
				return fmt.Errorf("record end of attempt %d of run %s: %w", a.Number, run, err)
			}
			return nil
		}
	}
	return client.RPush(ctx, attemptsKey(run), data).Err()
}

// Attempts lists run's attempts, oldest first.
func Attempts(ctx context.Context, client redis.UniversalClient, run string) ([]Attempt, error) {
	vs, err := client.LRange(ctx, attemptsKey(run), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read attempts of run %s: %w", run, err)
	}
	out := make([]Attempt, 0, len(vs))
	for _, v := range vs {
		var a Attempt
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return nil, fmt.Errorf("decode attempt of run %s: %w", run, err)
		}
		out = append(out, a)
	}
	return out, nil
}
