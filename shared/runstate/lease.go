package runstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A live run has one owner: the process holding its lease. The lease is a
// Redis key with a time to live that its holder renews; each acquisition
// hands out a new fencing token (a counter that only grows), and the
// holder checks that its token is still the lease's before every
// destructive write (rewriting the plan, deleting blocks, removing stale
// table items), so a holder that lost its lease — paused past the TTL,
// cut off from Redis — cannot harm the run's next owner.

// ErrLeaseHeld is returned when another holder has the run's lease.
var ErrLeaseHeld = errors.New("run is held by another process")

// ErrLeaseLost is returned when a holder's lease expired or was taken over.
var ErrLeaseLost = errors.New("run lease lost")

// DefaultLeaseTTL is how long a lease lives without renewal.
const DefaultLeaseTTL = 15 * time.Second

// Holder describes who holds a run's lease.
type Holder struct {
	Name  string        // e.g. "coordinator run host:pid"
	Token int64         // fencing token
	TTL   time.Duration // left before it expires
}

func (h Holder) String() string { return fmt.Sprintf("%s (token %d)", h.Name, h.Token) }

// HeldError says who holds a lease; it matches ErrLeaseHeld.
type HeldError struct {
	Run    string
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("run %s is live: held by %s, whose lease expires in %v unless renewed", e.Run, e.Holder.Name, e.Holder.TTL.Round(time.Second))
}

func (e *HeldError) Is(target error) bool { return target == ErrLeaseHeld }

// Lease is a held lease.
type Lease struct {
	client redis.UniversalClient
	run    string
	name   string
	token  int64
	ttl    time.Duration
}

// acquireScript sets the lease if nobody holds it, with a new token.
// KEYS: lease, fence. ARGV: holder name, ttl ms. Returns {1, token} or
// {0, current value, pttl}.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
return {1, token}
`)

// renewScript extends the lease if it is still ours. KEYS: lease. ARGV:
// value, ttl ms.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// releaseScript deletes the lease if it is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Acquire takes run's lease for name, or returns a *HeldError naming the
// holder. ttl 0 means DefaultLeaseTTL.
func Acquire(ctx context.Context, client redis.UniversalClient, run, name string, ttl time.Duration) (*Lease, error) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	res, err := acquireScript.Run(ctx, client, []string{leaseKey(run), fenceKey(run)}, name, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("take lease of run %s: %w", run, err)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		token, _ := res[1].(int64)
		return &Lease{client: client, run: run, name: name, token: token, ttl: ttl}, nil
	}
	h := parseHolder(fmt.Sprint(res[1]))
	if ms, ok := res[2].(int64); ok && ms > 0 {
		h.TTL = time.Duration(ms) * time.Millisecond
	}
	return nil, &HeldError{Run: run, Holder: h}
}

func parseHolder(v string) Holder {
	tok, name, _ := strings.Cut(v, "|")
	n, _ := strconv.ParseInt(tok, 10, 64)
	return Holder{Name: name, Token: n}
}

func (l *Lease) value() string { return strconv.FormatInt(l.token, 10) + "|" + l.name }

// Token is the lease's fencing token.
func (l *Lease) Token() int64 { return l.token }

// Renew extends the lease; ErrLeaseLost if it is no longer ours.
func (l *Lease) Renew(ctx context.Context) error {
	n, err := renewScript.Run(ctx, l.client, []string{leaseKey(l.run)}, l.value(), l.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("renew lease of run %s: %w", l.run, err)
	}
	if n == 0 {
		return fmt.Errorf("run %s, token %d: %w", l.run, l.token, ErrLeaseLost)
	}
	return nil
}

// Check is the fencing check before a destructive write: the lease must
// still be ours (same token, not expired).
func (l *Lease) Check(ctx context.Context) error {
	v, err := l.client.Get(ctx, leaseKey(l.run)).Result()
	if errors.Is(err, redis.Nil) || (err == nil && v != l.value()) {
		return fmt.Errorf("run %s, token %d: %w", l.run, l.token, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("check lease of run %s: %w", l.run, err)
	}
	return nil
}

// Release gives the lease up if it is still ours.
func (l *Lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.client, []string{leaseKey(l.run)}, l.value()).Err(); err != nil {
		return fmt.Errorf("release lease of run %s: %w", l.run, err)
	}
	return nil
}

// Keep renews the lease every third of its TTL until ctx ends, and calls
// lost (once) if it cannot: the holder must then stop its work. Keep
// returns when ctx ends or the lease is lost.
func (l *Lease) Keep(ctx context.Context, lost func(error)) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	var failing time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.Renew(ctx)
		switch {
		case err == nil:
			failing = time.Time{}
		case errors.Is(err, ErrLeaseLost):
			lost(err)
			return
		case ctx.Err() != nil:
			return
		default:
			// Redis unreachable: the lease may still be ours until its
			// TTL runs out; past that somebody else may hold it.
			if failing.IsZero() {
				failing = time.Now()
			}
			if time.Since(failing) >= l.ttl {
				lost(fmt.Errorf("%w: %w", ErrLeaseLost, err))
				return
			}
		}
	}
}
