package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/betterread/pipeline/internal/testenv"
)

// newLocalClient is a real client on DynamoDB Local with static
// credentials (never the environment's) and extra middleware.
func newLocalClient(t testing.TB, srv *testenv.DynamoDB, apiOptions ...func(*middleware.Stack) error) *dynamodb.Client {
	t.Helper()
	c, err := NewClient(t.Context(), srv.Endpoint, srv.Region, func(o *dynamodb.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(srv.AccessKeyID, srv.SecretAccessKey, "")
		o.APIOptions = append(o.APIOptions, apiOptions...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scanCount counts a table's items.
func scanCount(t *testing.T, c *dynamodb.Client, table string) int64 {
	t.Helper()
	var n int64
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		n += int64(out.Count)
	}
	return n
}

func scanAll(t *testing.T, c *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, out.Items...)
	}
	return items
}

func dumpDynamo(c *dynamodb.Client, tables Tables) func(t *testing.T) (map[string]string, map[string]string) {
	return func(t *testing.T) (map[string]string, map[string]string) {
		books, sims := map[string]string{}, map[string]string{}
		for _, it := range scanAll(t, c, tables.Books) {
			books[itemString(it, AttrISBN)] = itemString(it, AttrRunID)
		}
		for _, it := range scanAll(t, c, tables.Similarities) {
			r, err := parseSimRow(it)
			if err != nil {
				t.Fatal(err)
			}
			sims[simKey(r.isbn, r.rank)] = itemString(it, AttrRunID)
		}
		return books, sims
	}
}

// faults injects failures into BatchWriteItem calls of a real client, in
// the Initialize step (before the SDK's retry loop, so every fault reaches
// the batch writer):
//   - throttle: fail with ProvisionedThroughputExceededException, unsent;
//   - unprocessed: hold back 1..all of the batch's requests, send the rest,
//     and return the held ones as UnprocessedItems;
//   - timeout: fail with an HTTP timeout, half the time after the server
//     applied the batch (the response was lost), half before sending.
type faults struct {
	throttle, unprocessed, timeout float64 // probability per call

	mu  sync.Mutex
	rng *rand.Rand

	throttles, held, timeouts atomic.Int64
}

func newFaults(seed uint64, throttle, unprocessed, timeout float64) *faults {
	return &faults{throttle: throttle, unprocessed: unprocessed, timeout: timeout, rng: rand.New(rand.NewPCG(seed, 1))}
}

func (f *faults) roll(p float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < p
}

func (f *faults) intn(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

func (f *faults) install(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("InjectFaults", f.handle), middleware.After)
}

func (f *faults) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	params, ok := in.Parameters.(*dynamodb.BatchWriteItemInput)
	if !ok {
		return next.HandleInitialize(ctx, in)
	}
	if f.roll(f.throttle) {
		f.throttles.Add(1)
		return middleware.InitializeOutput{}, middleware.Metadata{},
			&types.ProvisionedThroughputExceededException{Message: aws.String("injected throttle")}
	}
	held := map[string][]types.WriteRequest{}
	if f.roll(f.unprocessed) {
		send := map[string][]types.WriteRequest{}
		for table, reqs := range params.RequestItems {
			k := 1 + f.intn(len(reqs))
			held[table] = reqs[len(reqs)-k:]
			if k < len(reqs) {
				send[table] = reqs[:len(reqs)-k]
			}
			f.held.Add(int64(k))
		}
		if len(send) == 0 {
			return middleware.InitializeOutput{Result: &dynamodb.BatchWriteItemOutput{UnprocessedItems: held}}, middleware.Metadata{}, nil
		}
		cp := *params
		cp.RequestItems = send
		in.Parameters = &cp
	}
	timeout := f.roll(f.timeout)
	if timeout && f.roll(0.5) {
		f.timeouts.Add(1)
		return middleware.InitializeOutput{}, middleware.Metadata{}, injectedTimeout()
	}
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	if timeout {
		f.timeouts.Add(1)
		return middleware.InitializeOutput{}, md, injectedTimeout()
	}
	if res, ok := out.Result.(*dynamodb.BatchWriteItemOutput); ok && len(held) > 0 {
		if res.UnprocessedItems == nil {
			res.UnprocessedItems = map[string][]types.WriteRequest{}
		}
		for table, reqs := range held {
			res.UnprocessedItems[table] = append(res.UnprocessedItems[table], reqs...)
		}
	}
	return out, md, nil
}

// TestDynamoDBLocal runs everything that needs a real DynamoDB against one
// DynamoDB Local (a JVM takes seconds to start); subtests keep apart by
// table prefix.
func TestDynamoDBLocal(t *testing.T) {
	t.Parallel()
	srv := testenv.StartDynamoDB(t)
	client := newLocalClient(t, srv)
	var prefixes atomic.Int64
	prefix := func(name string) string { return fmt.Sprintf("%s%d-", name, prefixes.Add(1)) }
	fast := WriterOptions{Concurrency: 4, BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Deadline: 30 * time.Second}

	t.Run("WriterConformance", func(t *testing.T) {
		t.Parallel()
		tables := TablesWithPrefix(prefix("conf"))
		if err := NewDynamoTarget(client, tables, WriterOptions{}).Ensure(t.Context()); err != nil {
			t.Fatal(err)
		}
		testWriterConformance(t, writerEnv{api: client, table: tables.Books, count: func(t *testing.T, table string) int64 {
			return scanCount(t, client, table)
		}})
	})

	t.Run("Ensure", func(t *testing.T) {
		t.Parallel()
		testEnsure(t, client, prefix("ensure"))
	})

	t.Run("ItemsReadBack", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		tables := TablesWithPrefix(prefix("items"))
		tg := NewDynamoTarget(client, tables, WriterOptions{})
		if err := tg.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		book := Book{ISBN: "e1", Title: "", Author: "Caf\xe9", Year: 0}
		scores := []float32{0.5, 1e-7, 1.0 / 3, -0.25, 0, float32(math.Copysign(0, -1)), -1}
		var sims []Similarity
		for i, s := range scores {
			sims = append(sims, Similarity{ISBN: "e1", Rank: i + 1, SimilarISBN: "e" + strconv.Itoa(i+2), Score: s})
		}
		if _, err := tg.WritePart(ctx, "run1", 0, []Book{book}, sims); err != nil {
			t.Fatalf("write empty strings and small numbers: %v", err)
		}
		items := scanAll(t, client, tables.Books)
		if len(items) != 1 {
			t.Fatalf("%d books", len(items))
		}
		if v, ok := items[0][AttrTitle].(*types.AttributeValueMemberS); !ok || v.Value != "" {
			t.Errorf("empty title read back as %#v", items[0][AttrTitle])
		}
		if _, ok := items[0][AttrYear]; ok {
			t.Error("unknown year stored")
		}
		if got := itemString(items[0], AttrAuthor); got != "Caf\uFFFD" {
			t.Errorf("author %q", got)
		}
		for _, it := range scanAll(t, client, tables.Similarities) {
			r, err := parseSimRow(it)
			if err != nil {
				t.Fatal(err)
			}
			if float32(r.score) != scores[r.rank-1] {
				t.Errorf("rank %d score read back %v (%s), wrote %v", r.rank, r.score, it[AttrScore].(*types.AttributeValueMemberN).Value, scores[r.rank-1])
			}
		}
	})

	t.Run("CommitRemovesStale", func(t *testing.T) {
		t.Parallel()
		tables := TablesWithPrefix(prefix("commit"))
		testCommitRemovesStale(t, targetEnv{
			target: NewDynamoTarget(client, tables, WriterOptions{Segments: 3}),
			dump:   dumpDynamo(client, tables),
			// Run A's items whose keys run B did not overwrite: book a;
			// a#1, a#2, b#2, c#2.
			deletedOnCommitB: Counts{Books: 1, Similarities: 4},
		})
	})

	// Commit after a Verify of the same target that read back the counts
	// written does not count them again: one Scan pass per table (the
	// stale items' scan) instead of two. With other counts it does.
	t.Run("CommitAfterVerifyScansOnce", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		scans := map[string]int{} // table → Scan requests (pages × segments)
		counting := newLocalClient(t, srv, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CountScans",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if req, ok := in.Parameters.(*dynamodb.ScanInput); ok {
						mu.Lock()
						scans[aws.ToString(req.TableName)]++
						mu.Unlock()
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
		tables := TablesWithPrefix(prefix("scans"))
		books, sims := genRun(isbnRange("s", 0, 30), 5)
		taken := func() int {
			mu.Lock()
			defer mu.Unlock()
			n := scans[tables.Similarities]
			clear(scans)
			return n
		}
		for _, c := range []struct {
			run         string
			verifyFirst bool
			want        int
		}{{"runS1", false, 2}, {"runS2", true, 1}} {
			tg := NewDynamoTarget(counting, tables, WriterOptions{Segments: 1})
			if err := tg.Ensure(t.Context()); err != nil {
				t.Fatal(err)
			}
			wrote, _ := writeRun(t, tg, c.run, books, sims, 10)
			if c.verifyFirst {
				if s, err := tg.Verify(t.Context(), c.run, wrote, VerifyOptions{Sample: 5}); err != nil || !s.Verified {
					t.Fatalf("verify %s: %v %s", c.run, err, s.Message)
				}
			}
			taken()
			if _, err := tg.Commit(t.Context(), c.run, wrote); err != nil {
				t.Fatalf("commit %s: %v", c.run, err)
			}
			if got := taken(); got != c.want {
				t.Errorf("commit of %s (verified first: %v) scanned %s %d times, want %d", c.run, c.verifyFirst, tables.Similarities, got, c.want)
			}
		}
	})

	t.Run("VerifyCatches", func(t *testing.T) {
		t.Parallel()
		testVerifyCatches(t, func(t *testing.T) Target {
			tg := NewDynamoTarget(client, TablesWithPrefix(prefix("verify")), WriterOptions{})
			if err := tg.Ensure(t.Context()); err != nil {
				t.Fatal(err)
			}
			return tg
		})
	})

	t.Run("VerifyMissingTables", func(t *testing.T) {
		t.Parallel()
		tg := NewDynamoTarget(client, TablesWithPrefix(prefix("absent")), WriterOptions{})
		s, err := tg.Verify(t.Context(), "run1", Counts{}, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Verified || len(s.Checks) != 2 || s.Checks[0].OK || s.Checks[1].OK {
			t.Errorf("verified missing tables: %+v", s)
		}
	})

	t.Run("Faults", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			faults *faults
			check  func(t *testing.T, f *faults, st WriteStats)
		}{
			{"throttle", newFaults(1, 0.5, 0, 0), func(t *testing.T, f *faults, st WriteStats) {
				if st.Throttles == 0 || st.Throttles != f.throttles.Load() {
					t.Errorf("stats count %d throttles, %d injected", st.Throttles, f.throttles.Load())
				}
			}},
			{"unprocessed", newFaults(2, 0, 0.5, 0), func(t *testing.T, f *faults, st WriteStats) {
				if st.Unprocessed == 0 || st.Unprocessed != f.held.Load() || st.UnprocessedRetries == 0 {
					t.Errorf("stats count %d unprocessed items in %d retries, %d injected", st.Unprocessed, st.UnprocessedRetries, f.held.Load())
				}
			}},
			{"timeout", newFaults(3, 0, 0, 0.5), func(t *testing.T, f *faults, st WriteStats) {
				if st.Errors == 0 || st.Errors != f.timeouts.Load() {
					t.Errorf("stats count %d errors, %d timeouts injected", st.Errors, f.timeouts.Load())
				}
			}},
			{"all", newFaults(4, 0.3, 0.3, 0.3), func(t *testing.T, f *faults, st WriteStats) {
				if st.Throttles == 0 || st.Unprocessed == 0 || st.Errors == 0 {
					t.Errorf("stats %+v, want every kind of retry", st)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				faulty := newLocalClient(t, srv, tt.faults.install)
				tables := TablesWithPrefix(prefix("faults"))
				tg := NewDynamoTarget(faulty, tables, fast)
				if err := tg.Ensure(ctx); err != nil {
					t.Fatal(err)
				}
				books, sims := genRun(isbnRange("f", 0, 200), 5)
				wrote, st := writeRun(t, tg, "runF", books, sims, 50)
				if st.Items != 1200 {
					t.Errorf("stats confirm %d items, wrote 1200 (each must count once): %+v", st.Items, st)
				}
				tt.check(t, tt.faults, st)
				s, err := tg.Verify(ctx, "runF", wrote, VerifyOptions{MinBooks: 200, MinSimilarities: 1000, Sample: 40, Seed: 9})
				if err != nil || !s.Verified {
					t.Fatalf("verify: %v %s", err, s.Message)
				}
				if del, err := tg.Commit(ctx, "runF", wrote); err != nil || del != (Counts{}) {
					t.Errorf("commit: %+v %v", del, err)
				}
				t.Logf("%s: %+v", tt.name, st)
			})
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newFaults(5, 0, 1, 0) // every call holds something back: a batch never finishes
		tables := TablesWithPrefix(prefix("deadline"))
		opts := fast
		opts.Deadline = 300 * time.Millisecond
		tg := NewDynamoTarget(newLocalClient(t, srv, f.install), tables, opts)
		if err := tg.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		books, sims := genRun(isbnRange("d", 0, 40), 2)
		_, err := tg.WritePart(ctx, "runD", 0, books, sims)
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v, want ErrDeadline", err)
		}
		t.Log(err)
	})
}
