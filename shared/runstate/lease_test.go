package runstate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func newRedis(t *testing.T) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	mr := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rc.Close() })
	return mr, rc
}

func TestLease(t *testing.T) {
	t.Parallel()
	mr, rc := newRedis(t)
	ctx := t.Context()
	a, err := Acquire(ctx, rc, "r-1", "coordinator run a:1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, rc, "r-1", "coordinator serve b:2", time.Second)
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLeaseHeld) || held.Holder.Name != "coordinator run a:1" || held.Holder.Token != a.Token() {
		t.Fatalf("second Acquire: %v, want a HeldError naming a:1 with token %d", err, a.Token())
	}
	if held.Holder.TTL <= 0 || held.Holder.TTL > time.Second {
		t.Errorf("holder's lease expires in %v, want within the 1 s TTL", held.Holder.TTL)
	}
	if _, err := Acquire(ctx, rc, "r-other", "x", time.Second); err != nil {
		t.Fatalf("another run's lease: %v", err)
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// The lease expires (its holder paused past the TTL); another takes it.
	mr.FastForward(2 * time.Second)
	b, err := Acquire(ctx, rc, "r-1", "coordinator serve b:2", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if b.Token() <= a.Token() {
		t.Errorf("fencing token %d after %d: want a larger one", b.Token(), a.Token())
	}
	if err := a.Check(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's fencing check: %v, want ErrLeaseLost", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's renewal: %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx); err != nil {
		t.Errorf("the old holder's release took the new holder's lease: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := Acquire(ctx, rc, "r-1", "c", time.Second); err != nil {
		t.Errorf("lease still held after release: %v", err)
	} else {
		c.Release(ctx)
	}
}

func TestLeaseKeepReportsLoss(t *testing.T) {
	t.Parallel()
	_, rc := newRedis(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := Acquire(ctx, rc, "r-keep", "a", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Somebody else's value replaces ours: Keep must notice and say so.
	rc.Set(ctx, leaseKey("r-keep"), "99|intruder", time.Minute)
	lost := make(chan error, 1)
	l.Keep(ctx, func(err error) { lost <- err })
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("lost with %v, want ErrLeaseLost", err)
		}
	default:
		t.Fatal("Keep returned without reporting the lost lease")
	}
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	_, rc := newRedis(t)
	ctx := t.Context()
	now := time.Now()
	a1, err := BeginAttempt(ctx, rc, "r-a", "cli", "h:1", now)
	if err != nil || a1.Number != 1 || a1.Status != "running" {
		t.Fatalf("first attempt %+v %v", a1, err)
	}
	end := now.Add(time.Second)
	a1.Ended, a1.Status, a1.Error = &end, "failed", "validate: Ratings.csv /x: no such file"
	if err := EndAttempt(ctx, rc, "r-a", a1); err != nil {
		t.Fatal(err)
	}
	a2, err := BeginAttempt(ctx, rc, "r-a", "upload", "h:2", end)
	if err != nil || a2.Number != 2 {
		t.Fatalf("second attempt %+v %v", a2, err)
	}
	all, err := Attempts(ctx, rc, "r-a")
	if err != nil || len(all) != 2 {
		t.Fatalf("Attempts = %+v %v", all, err)
	}
	if all[0].Status != "failed" || all[0].Error == "" || all[0].Ended == nil || all[1].Trigger != "upload" || all[1].Status != "running" {
		t.Errorf("attempts %+v: want the first failed with its error, the second running from an upload", all)
	}
	if err := ResetGeneration(ctx, rc, "r-a"); err != nil {
		t.Fatal(err)
	}
	if all, _ := Attempts(ctx, rc, "r-a"); len(all) != 2 {
		t.Errorf("a new generation removed the attempts: %d left", len(all))
	}
}
