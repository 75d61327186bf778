package dynamo

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fastRetries keeps unit tests quick: the backoff logic is the same at
// any scale.
var fastRetries = WriterOptions{Concurrency: 2, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Deadline: 10 * time.Second}

// newFakeTables returns a fake with the default tables created.
func newFakeTables(t *testing.T) (*fakeDB, Tables) {
	t.Helper()
	db := newFakeDB()
	tables := TablesWithPrefix("")
	if err := NewDynamoTarget(db, tables, WriterOptions{}).Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, tables
}

func TestBatchWriterConformanceFake(t *testing.T) {
	t.Parallel()
	db, tables := newFakeTables(t)
	testWriterConformance(t, writerEnv{api: db, table: tables.Books, count: func(_ *testing.T, table string) int64 { return db.count(table) }})
}

func TestEnsureFake(t *testing.T) {
	t.Parallel()
	testEnsure(t, newFakeDB(), "")
}

// timeoutErr is what an HTTP client timeout looks like to the SDK.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "injected timeout" }
func (timeoutErr) Timeout() bool { return true }

func injectedTimeout() error {
	return &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://dynamodb", Err: timeoutErr{}}}
}

func TestBatchWriterRetries(t *testing.T) {
	t.Parallel()
	every := func(k int, err error) func() func() error {
		return func() func() error {
			var n atomic.Int64
			return func() error {
				if n.Add(1)%int64(k) != 0 {
					return err
				}
				return nil
			}
		}
	}
	tests := []struct {
		name  string
		hold  func(n int) int
		fail  func() func() error
		check func(t *testing.T, st WriteStats)
	}{
		{
			name: "unprocessed half",
			hold: func(n int) int { return n / 2 },
			check: func(t *testing.T, st WriteStats) {
				if st.UnprocessedRetries == 0 || st.Unprocessed == 0 {
					t.Errorf("no unprocessed retries counted: %+v", st)
				}
			},
		},
		{
			name: "throttled twice of three calls",
			fail: every(3, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}),
			check: func(t *testing.T, st WriteStats) {
				if st.Throttles == 0 || st.Errors != 0 {
					t.Errorf("throttles not counted: %+v", st)
				}
			},
		},
		{
			name: "ThrottlingException",
			fail: every(2, &smithy.GenericAPIError{Code: "ThrottlingException"}),
			check: func(t *testing.T, st WriteStats) {
				if st.Throttles == 0 {
					t.Errorf("throttles not counted: %+v", st)
				}
			},
		},
		{
			name: "timeouts",
			fail: every(2, injectedTimeout()),
			check: func(t *testing.T, st WriteStats) {
				if st.Errors == 0 || st.Throttles != 0 {
					t.Errorf("errors not counted: %+v", st)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, tables := newFakeTables(t)
			db.hold = tt.hold
			if tt.fail != nil {
				db.fail = tt.fail()
			}
			books, _ := genRun(isbnRange("r", 0, 300), 0)
			st, err := NewBatchWriter(db, fastRetries).Put(t.Context(), tables.Books, bookItems("run", books))
			if err != nil {
				t.Fatal(err)
			}
			if st.Items != 300 || db.count(tables.Books) != 300 {
				t.Errorf("stats %+v, table holds %d; want 300 items", st, db.count(tables.Books))
			}
			if st.Backoff <= 0 {
				t.Errorf("no backoff recorded: %+v", st)
			}
			tt.check(t, st)
		})
	}
}

func TestBatchWriterDeadline(t *testing.T) {
	t.Parallel()
	db, tables := newFakeTables(t)
	db.hold = func(int) int { return 1 } // one item of every call comes back: never done
	opts := fastRetries
	opts.Deadline = 50 * time.Millisecond
	books, _ := genRun(isbnRange("d", 0, 60), 0)
	st, err := NewBatchWriter(db, opts).Put(t.Context(), tables.Books, bookItems("run", books))
	if !errors.Is(err, ErrDeadline) || !strings.Contains(err.Error(), tables.Books) || !strings.Contains(err.Error(), "items left") {
		t.Fatalf("err = %v, want ErrDeadline naming the table and the items left", err)
	}
	if st.Items == 0 || st.Items >= 60 || st.UnprocessedRetries == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestBatchWriterNonRetryableError(t *testing.T) {
	t.Parallel()
	db, tables := newFakeTables(t)
	db.fail = func() error { return &smithy.GenericAPIError{Code: "ValidationException", Message: "item too large"} }
	books, _ := genRun(isbnRange("n", 0, 10), 0)
	st, err := NewBatchWriter(db, fastRetries).Put(t.Context(), tables.Books, bookItems("run", books))
	if err == nil || !strings.Contains(err.Error(), "item too large") || !strings.Contains(err.Error(), tables.Books) {
		t.Fatalf("err = %v, want the validation error naming the table", err)
	}
	if st.Batches != 1 || db.calls != 1 {
		t.Errorf("retried a non-retryable error: stats %+v, %d calls", st, db.calls)
	}
}

func TestBatchWriterCanceled(t *testing.T) {
	t.Parallel()
	db, tables := newFakeTables(t)
	db.hold = func(int) int { return 1 }
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int64
	db.fail = func() error {
		if calls.Add(1) == 3 {
			cancel()
		}
		return nil
	}
	books, _ := genRun(isbnRange("x", 0, 100), 0)
	_, err := NewBatchWriter(db, fastRetries).Put(ctx, tables.Books, bookItems("run", books))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    time.Duration
		maxWait time.Duration
		n       int
		ceiling time.Duration
	}{
		{"first retry", 50 * time.Millisecond, 5 * time.Second, 0, 50 * time.Millisecond},
		{"doubles", 50 * time.Millisecond, 5 * time.Second, 3, 400 * time.Millisecond},
		{"capped", 50 * time.Millisecond, 5 * time.Second, 10, 5 * time.Second},
		{"no overflow", 5 * time.Second, 5 * time.Second, 1000, 5 * time.Second},
		{"huge cap", time.Second, time.Duration(math.MaxInt64), 70, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var top time.Duration
			for range 200 {
				d := backoff(tt.base, tt.maxWait, tt.n)
				if d < 0 || d >= tt.ceiling {
					t.Fatalf("backoff = %s, want in [0, %s)", d, tt.ceiling)
				}
				top = max(top, d)
			}
			if top < tt.ceiling/4 {
				t.Errorf("200 draws all below %s: jitter does not span [0, %s)", top, tt.ceiling)
			}
		})
	}
}

func TestWriterOptions(t *testing.T) {
	t.Parallel()
	if err := (WriterOptions{}).Validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	err := WriterOptions{Concurrency: -1, Rate: -2, Deadline: -time.Second, BaseBackoff: -1, Segments: -1}.Validate()
	for _, want := range []string{"concurrency", "rate", "deadline", "backoff", "segments"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
	d := WriterOptions{}.withDefaults()
	if d.Concurrency != DefaultConcurrency || d.Deadline != DefaultDeadline || d.BaseBackoff != DefaultBaseBackoff ||
		d.MaxBackoff != DefaultMaxBackoff || d.Segments != DefaultSegments || d.Rate != 0 {
		t.Errorf("defaults %+v", d)
	}
	if w := NewBatchWriter(newFakeDB(), WriterOptions{Rate: 500}); w.limiter == nil || w.limiter.Limit() != 500 || w.limiter.Burst() != MaxBatch {
		t.Errorf("rate limiter not configured: %+v", w.limiter)
	}
	if w := NewBatchWriter(newFakeDB(), WriterOptions{}); w.limiter != nil {
		t.Error("rate limiter configured with Rate 0")
	}
}

func TestDynamoTargetWritePartRejectsBadRows(t *testing.T) {
	t.Parallel()
	db, tables := newFakeTables(t)
	tg := NewDynamoTarget(db, tables, fastRetries)
	books, sims := genRun([]string{"a", "b"}, 1)
	sims[1].Rank = 0
	if _, err := tg.WritePart(t.Context(), "run", 4, books, sims); err == nil || !strings.Contains(err.Error(), "part 4") {
		t.Errorf("err = %v, want a rank error naming the part", err)
	}
	if _, err := tg.WritePart(t.Context(), "bad/run", 0, books, nil); err == nil {
		t.Error("bad run id accepted")
	}
	if db.calls != 0 {
		t.Errorf("%d writes for rejected parts", db.calls)
	}
}
