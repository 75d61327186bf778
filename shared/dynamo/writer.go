package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// MaxBatch is the most write requests one BatchWriteItem call may carry.
const MaxBatch = 25

// ErrDeadline is wrapped by a write that still had items left when
// WriterOptions.Deadline passed.
var ErrDeadline = errors.New("dynamo: write deadline passed")

// WriterOptions configure the batch writer and the DynamoDB target. The
// zero value is usable: every zero field means its default.
type WriterOptions struct {
	// Concurrency is how many BatchWriteItem calls one Put or Delete keeps
	// in flight. 0 means 4.
	Concurrency int
	// Rate limits the items per second this writer sends, across all its
	// concurrent calls and retries included. 0 means no limit.
	Rate float64
	// Limiters are further limits every batch waits on before it is sent,
	// shared with other writers: a worker process's own limit, or a
	// run-wide one kept in Redis.
	Limiters []Limiter
	// Deadline is how long one batch may keep being retried (unprocessed
	// items, throttling, timeouts) before the write fails with ErrDeadline.
	// 0 means 2 minutes.
	Deadline time.Duration
	// BaseBackoff and MaxBackoff shape the exponential backoff with full
	// jitter between retries of a batch: retry n waits a uniformly random
	// time in [0, min(MaxBackoff, BaseBackoff·2ⁿ)). 0 means 50 ms and 5 s.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Segments is how many parallel scan segments Commit and Verify use
	// (Verify takes VerifyOptions.Segments when that is set). 0 means 4.
	Segments int
}

// Defaults of WriterOptions.
const (
	DefaultConcurrency = 4
	DefaultDeadline    = 2 * time.Minute
	DefaultBaseBackoff = 50 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultSegments    = 4
	maxSegments        = 1_000_000 // DynamoDB's limit on TotalSegments
)

// Validate reports every out-of-range field at once.
func (o WriterOptions) Validate() error {
	var errs []error
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("writer concurrency %d: must not be negative", o.Concurrency))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("write rate %v items/s: must not be negative", o.Rate))
	}
	if o.Deadline < 0 {
		errs = append(errs, fmt.Errorf("write deadline %s: must not be negative", o.Deadline))
	}
	if o.BaseBackoff < 0 || o.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("write backoff %s..%s: must not be negative", o.BaseBackoff, o.MaxBackoff))
	}
	if o.Segments < 0 || o.Segments > maxSegments {
		errs = append(errs, fmt.Errorf("scan segments %d: want 0..%d", o.Segments, maxSegments))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero (and out-of-range) fields with defaults.
func (o WriterOptions) withDefaults() WriterOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Rate < 0 {
		o.Rate = 0
	}
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = DefaultBaseBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.BaseBackoff)
	if o.Segments <= 0 || o.Segments > maxSegments {
		o.Segments = DefaultSegments
	}
	return o
}

// WriteStats counts what a write did. Items counts each item once, when
// DynamoDB confirmed it; the other fields count the extra work retries
// cost.
type WriteStats struct {
	Items              int64         `json:"items"`               // items written (or deleted) and confirmed
	Batches            int64         `json:"batches"`             // BatchWriteItem calls made, retries included
	UnprocessedRetries int64         `json:"unprocessed_retries"` // calls that resent items DynamoDB returned as UnprocessedItems
	Unprocessed        int64         `json:"unprocessed"`         // items returned as unprocessed, summed over calls
	Throttles          int64         `json:"throttles"`           // throttling errors that reached the writer (after the SDK's own retries)
	Errors             int64         `json:"errors"`              // other retryable errors (timeouts, 5xx, connection) that reached the writer
	Backoff            time.Duration `json:"backoff_ns"`          // time spent waiting between retries
}

// Add adds o to s.
func (s *WriteStats) Add(o WriteStats) {
	s.Items += o.Items
	s.Batches += o.Batches
	s.UnprocessedRetries += o.UnprocessedRetries
	s.Unprocessed += o.Unprocessed
	s.Throttles += o.Throttles
	s.Errors += o.Errors
	s.Backoff += o.Backoff
}

// Limiter hands out permission to send n items; *rate.Limiter is one.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
}

// BatchWriter writes and deletes items with BatchWriteItem, 25 requests a
// call, Concurrency calls at a time, retrying unprocessed items, throttling
// and transient errors with exponential backoff and full jitter until each
// batch is written or Deadline passes. Every request is a whole-item put
// or delete, so resending one that DynamoDB had in fact applied (a timeout
// after the server wrote it) changes nothing. It is safe for concurrent
// use; the rate limit is shared by all calls.
type BatchWriter struct {
	client  API
	opts    WriterOptions
	limiter *rate.Limiter // nil: no limit
}

// NewBatchWriter returns a writer on client. Out-of-range options take
// their defaults; call opts.Validate first to report them instead.
func NewBatchWriter(client API, opts WriterOptions) *BatchWriter {
	opts = opts.withDefaults()
	w := &BatchWriter{client: client, opts: opts}
	if opts.Rate > 0 {
		// A burst of one batch: the limiter then spaces calls evenly
		// instead of letting a second's worth through at once.
		w.limiter = rate.NewLimiter(rate.Limit(opts.Rate), MaxBatch)
	}
	return w
}

// Put writes items to table, replacing items with the same keys. Items in
// one call must have distinct keys (DynamoDB rejects a batch with
// duplicates).
func (w *BatchWriter) Put(ctx context.Context, table string, items []map[string]types.AttributeValue) (WriteStats, error) {
	return w.write(ctx, table, len(items), func(_, start int, reqs []types.WriteRequest) {
		for i := range reqs {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: items[start+i]}}
		}
	})
}

// Delete deletes the items with the given keys from table; deleting a key
// that is not there is not an error.
func (w *BatchWriter) Delete(ctx context.Context, table string, keys []map[string]types.AttributeValue) (WriteStats, error) {
	return w.write(ctx, table, len(keys), func(_, start int, reqs []types.WriteRequest) {
		for i := range reqs {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: keys[start+i]}}
		}
	})
}

// putItem is an item whose map and attribute values are made once and
// refilled for each row it carries (bookAttrs, simAttrs).
type putItem[R any] interface {
	set(runID string, row R)
	request() *types.PutRequest
}

// putRows writes rows to table as the items newItem makes and set fills:
// each batch slot (see write) has its own MaxBatch items, made when the
// slot is first used and refilled for every batch it carries, so a row
// goes straight to attribute values in memory that is reused.
func putRows[R any, I putItem[R]](ctx context.Context, w *BatchWriter, table, runID string, rows []R, newItem func() I) (WriteStats, error) {
	slots := make([][]I, w.opts.Concurrency)
	return w.write(ctx, table, len(rows), func(slot, start int, reqs []types.WriteRequest) {
		if slots[slot] == nil {
			slots[slot] = make([]I, MaxBatch)
			for i := range slots[slot] {
				slots[slot][i] = newItem()
			}
		}
		for i := range reqs {
			it := slots[slot][i]
			it.set(runID, rows[start+i])
			reqs[i] = types.WriteRequest{PutRequest: it.request()}
		}
	})
}

// write sends n write requests to table in batches of MaxBatch,
// Concurrency batches at a time. fill(slot, start, reqs) sets reqs to the
// requests start, start+1, ... of the write; it runs in the batch's own
// goroutine before the batch is sent. slot, in 0..Concurrency-1, is held
// by that batch alone until it is written (or has failed), so a fill may
// keep what a slot's requests point to and reuse it for the slot's next
// batch: the client reads a request only during the BatchWriteItem call
// that sends it, and retries resend either those requests (still held)
// or the copies DynamoDB returned as UnprocessedItems.
func (w *BatchWriter) write(ctx context.Context, table string, n int, fill func(slot, start int, reqs []types.WriteRequest)) (WriteStats, error) {
	var (
		mu    sync.Mutex
		total WriteStats
	)
	free := make(chan int, w.opts.Concurrency)
	reqs := make([][]types.WriteRequest, w.opts.Concurrency)
	for slot := range w.opts.Concurrency {
		free <- slot
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
send:
	for start := 0; start < n && gctx.Err() == nil; start += MaxBatch {
		var slot int
		select {
		case slot = <-free:
		case <-gctx.Done():
			break send
		}
		if reqs[slot] == nil {
			reqs[slot] = make([]types.WriteRequest, MaxBatch)
		}
		batch := reqs[slot][:min(MaxBatch, n-start)]
		g.Go(func() error {
			defer func() { free <- slot }()
			fill(slot, start, batch)
			st, err := w.writeBatch(gctx, table, batch)
			mu.Lock()
			total.Add(st)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil {
		return total, ctx.Err()
	}
	return total, err
}

// wait waits on the writer's own limit, then on the shared ones.
func (w *BatchWriter) wait(ctx context.Context, n int) error {
	if w.limiter != nil {
		if err := w.limiter.WaitN(ctx, n); err != nil {
			return err
		}
	}
	for _, l := range w.opts.Limiters {
		if err := l.WaitN(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// writeBatch sends one batch until every request in it is confirmed.
func (w *BatchWriter) writeBatch(ctx context.Context, table string, pending []types.WriteRequest) (WriteStats, error) {
	var st WriteStats
	start := time.Now()
	deadline := start.Add(w.opts.Deadline)
	for retry := 0; ; retry++ {
		if err := w.wait(ctx, len(pending)); err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			return st, fmt.Errorf("batch write to table %s: rate limit: %w", table, err)
		}
		st.Batches++
		out, err := w.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: pending},
		})
		var cause error
		switch {
		case err == nil:
			left := out.UnprocessedItems[table]
			st.Items += int64(len(pending) - len(left))
			if len(left) == 0 {
				return st, nil
			}
			st.Unprocessed += int64(len(left))
			st.UnprocessedRetries++
			pending = left
			cause = fmt.Errorf("%d items unprocessed", len(left))
		case ctx.Err() != nil:
			return st, ctx.Err()
		case isThrottle(err):
			st.Throttles++
			cause = err
		case isRetryable(err):
			st.Errors++
			cause = err
		default:
			return st, fmt.Errorf("batch write %d items to table %s: %w", len(pending), table, err)
		}
		wait := backoff(w.opts.BaseBackoff, w.opts.MaxBackoff, retry)
		if time.Now().Add(wait).After(deadline) {
			return st, fmt.Errorf("batch write to table %s: %d items left after %s of retries (last: %w): %w",
				table, len(pending), time.Since(start).Round(time.Millisecond), cause, ErrDeadline)
		}
		st.Backoff += wait
		if err := sleep(ctx, wait); err != nil {
			return st, err
		}
	}
}

// backoff is the full-jitter delay before retry n (0-based): uniform in
// [0, min(maxWait, base·2ⁿ)).
func backoff(base, maxWait time.Duration, n int) time.Duration {
	ceiling := base
	for i := 0; i < n && ceiling < maxWait; i++ {
		if ceiling > maxWait/2 {
			ceiling = maxWait // doubling would pass the cap (or overflow)
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, maxWait)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// sleep waits d or until ctx is done, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isThrottle reports DynamoDB's throttling errors
// (ProvisionedThroughputExceededException, ThrottlingException,
// RequestLimitExceeded, and the SDK's other throttle codes).
func isThrottle(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	_, ok := retry.DefaultThrottleErrorCodes[ae.ErrorCode()]
	return ok
}

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// isRetryable reports errors the SDK itself would retry: connection
// errors, timeouts, 5xx responses.
func isRetryable(err error) bool {
	return retryables.IsErrorRetryable(err) == aws.TrueTernary
}
