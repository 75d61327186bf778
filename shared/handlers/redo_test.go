package handlers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// fakeQueue records what handlers enqueue.
type fakeQueue struct {
	mu    sync.Mutex
	tasks []*asynq.Task
	ids   []string
}

func (q *fakeQueue) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := ""
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id = o.Value().(string)
		}
	}
	q.tasks, q.ids = append(q.tasks, t), append(q.ids, id)
	return &asynq.TaskInfo{ID: id}, nil
}

// fakeCounter records counters.
type fakeCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *fakeCounter) Add(_ context.Context, _, name string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[name] += n
}
func (c *fakeCounter) Span(context.Context, string, string, time.Time, time.Time) {}

// TestCorruptInputRunsProducerAgain: an ALS task whose fixed factor side
// has a corrupt block does not solve against it; it removes the block,
// enqueues the task that produced it under a new id, counts it, and
// fails so that it is retried once the block is written anew.
func TestCorruptInputRunsProducerAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const run = "r-redo"
	plan := tasks.Plan{Version: tasks.PlanVersion, Run: run, Gen: "g1", BlockRows: 2, Books: "/b.csv", Ratings: "/r.csv",
		Prepare:    tasks.PrepareParams{MinUserRatings: 1, MinBookRatings: 1, TestFraction: 0.2},
		ALS:        als.Params{Rank: 2, Iterations: 2, Reg: 0.1, Nonnegative: true, Seed: 42},
		Similarity: similarity.Params{Top: 2},
		Target:     tasks.TargetSpec{Kind: "files", Dir: "/tmp/out", BooksTable: "Books", SimilaritiesTable: "BookSimilarities"},
	}
	rs := runstore.Open(st, run)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rs.PutJSON(ctx, runstore.PlanDoc, plan))
	must(rs.PutJSON(ctx, runstore.LayoutDoc, tasks.Layout{Users: 2, Items: 3, BlockRows: 2}))
	must(rs.PutRatings(ctx, "users", 0, blocks.Ratings{Start: 0, RowPtr: []int32{0, 2, 3}, Col: []int32{0, 2, 1}, Val: []float32{5, 3, 4}}))
	must(rs.PutFactors(ctx, 1, "items", 0, blocks.Factors{Start: 0, K: 2, Data: []float32{1, 0, 0, 1}}))
	must(rs.PutFactors(ctx, 1, "items", 1, blocks.Factors{Start: 2, K: 2, Data: []float32{1, 1}}))
	bad := filepath.Join(dir, runstore.RunKeys(run).Factors(1, "items", 0))
	data, err := os.ReadFile(bad)
	must(err)
	data[len(data)/2] ^= 0xff
	must(os.WriteFile(bad, data, 0o644))

	q := &fakeQueue{}
	c := &fakeCounter{n: map[string]int64{}}
	d := &Deps{Store: st, Cache: NewCache(1 << 20), Enqueuer: q, Counter: c}
	task, err := tasks.NewALSSolve(tasks.ALSSolve{Run: run, Gen: "g1", Iteration: 1, Side: "users", Block: 0})
	must(err)
	err = ALSSolve{d}.ProcessTask(ctx, task)
	if err == nil || !strings.Contains(err.Error(), "items factor block 0 of iteration 1") || !strings.Contains(err.Error(), "enqueued its producer") {
		t.Fatalf("ProcessTask = %v, want an error naming the corrupt block and the re-run producer", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("the corrupt block is still in the store (%v)", err)
	}
	if ok, _ := rs.Exists(ctx, runstore.RunKeys(run).Factors(1, "users", 0)); ok {
		t.Error("the task wrote its output from a corrupt input")
	}
	if len(q.tasks) != 1 {
		t.Fatalf("%d tasks enqueued, want the producer", len(q.tasks))
	}
	p, err := tasks.ParseALSSolve(q.tasks[0].Payload())
	want := tasks.ALSSolve{Run: run, Gen: "g1", Iteration: 1, Side: "items", Block: 0}
	if err != nil || p != want || !strings.HasPrefix(q.ids[0], want.ID()+":redo:") {
		t.Errorf("enqueued %+v as %q, want %+v under a redo id", p, q.ids[0], want)
	}
	if c.n[runstate.CorruptPrefix+"factors"] != 1 {
		t.Errorf("counters %v: want one corrupt factor block", c.n)
	}
}
