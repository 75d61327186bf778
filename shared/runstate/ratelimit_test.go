package runstate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// fakeClock is a clock that moves only when someone sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

// TestRunRateLimiterWindows has four writers, as on four workers, send
// 25-item batches through one run's limiter and checks that no one-second
// window lets more than the rate through.
func TestRunRateLimiterWindows(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 300e6)}
	const rate, batch, perWriter = 100, 25, 40

	var mu sync.Mutex
	sent := map[int64]int{} // window → items let through
	var wg sync.WaitGroup
	for range 4 {
		l := NewRunRateLimiter(client, "r-test", rate)
		var last time.Time // the time of the window WaitN last counted in
		l.now = func() time.Time { last = clock.now(); return last }
		l.sleep = clock.sleep
		wg.Go(func() {
			for range perWriter {
				if err := l.WaitN(t.Context(), batch); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent[last.Unix()] += batch
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := 0
	for w, n := range sent {
		total += n
		if n > rate {
			t.Errorf("window %d let %d items through, limit %d", w, n, rate)
		}
	}
	if want := 4 * perWriter * batch; total != want {
		t.Errorf("%d items sent, want %d", total, want)
	}
	if len(sent) < 4*perWriter*batch/rate {
		t.Errorf("%d items went through in %d windows: the limit did not hold them back", total, len(sent))
	}
}

// TestRunRateLimiterLargeBatch lets a batch larger than the rate through
// alone in its window rather than blocking forever.
func TestRunRateLimiterLargeBatch(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRunRateLimiter(client, "r-big", 10)
	l.now, l.sleep = clock.now, clock.sleep
	for i := range 3 {
		if err := l.WaitN(t.Context(), 25); err != nil {
			t.Fatal(err)
		}
		if got := clock.now().Unix() - 1_700_000_000; got != int64(i) {
			t.Errorf("batch %d went in second %d, want %d", i, got, i)
		}
	}
}

func TestRunRateLimiterRedisDown(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer client.Close()
	mr.Close()
	l := NewRunRateLimiter(client, "r-down", 10)
	if err := l.WaitN(t.Context(), 5); err == nil {
		t.Error("no error with Redis down")
	}
}
