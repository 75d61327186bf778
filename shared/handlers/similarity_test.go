package handlers

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// similarityRun stores what the similarity stage reads: a plan and a
// catalogue of n normalised factor rows (some zero, some duplicated so that
// scores tie) in blocks of blockRows.
const run = "r-sim"

func similarityRun(t *testing.T, n, k, blockRows, top int) (*Deps, *runstore.Run, tasks.Layout, []float32, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	plan := tasks.Plan{Version: tasks.PlanVersion, Run: run, Gen: "g1", BlockRows: blockRows, Books: "/b.csv", Ratings: "/r.csv",
		Prepare:    tasks.PrepareParams{MinUserRatings: 1, MinBookRatings: 1, TestFraction: 0.2},
		ALS:        als.Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: true, Seed: 42},
		Similarity: similarity.Params{Top: top},
		Target:     tasks.TargetSpec{Kind: "files", Dir: "/tmp/out", BooksTable: "Books", SimilaritiesTable: "BookSimilarities"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	f := make([]float32, n*k)
	for i := range n {
		row := f[i*k : i*k+k]
		switch {
		case i%11 == 5: // zero row: no neighbours
		case i%7 == 3 && i > 7: // a copy of an earlier row: tied scores
			copy(row, f[(i-7)*k:(i-7)*k+k])
		default:
			for d := range row {
				row[d] = float32(rng.Float64())
			}
		}
	}
	similarity.Normalize(f, k)
	rs := runstore.Open(st, run)
	l := tasks.CatalogLayout(n, blockRows)
	for _, err := range []error{
		rs.PutJSON(ctx, runstore.PlanDoc, plan),
		rs.PutCatalogFactors(ctx, blocks.Factors{Start: 0, K: k, Data: f}),
		rs.PutJSON(ctx, runstore.CatalogLayoutDoc, l),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &Deps{Store: st, Cache: NewCache(1 << 24), Enqueuer: &fakeQueue{}, Counter: &fakeCounter{n: map[string]int64{}}}, rs, l, f, dir
}

// runSimilarity processes every sim:pair task, then every sim:merge task.
func runSimilarity(ctx context.Context, t *testing.T, d *Deps, l tasks.Layout) {
	t.Helper()
	for i := range l.Groups() {
		for j := i; j < l.Groups(); j++ {
			task, err := tasks.NewSimPair(tasks.SimPair{Run: run, Gen: "g1", I: i, J: j})
			if err != nil {
				t.Fatal(err)
			}
			if err := (SimPair{d}).ProcessTask(ctx, task); err != nil {
				t.Fatalf("sim:pair (%d, %d): %v", i, j, err)
			}
		}
	}
	for b := range l.Blocks(l.Catalog) {
		task, err := tasks.NewSimMerge(tasks.SimMerge{Run: run, Gen: "g1", Block: b})
		if err != nil {
			t.Fatal(err)
		}
		if err := (SimMerge{d}).ProcessTask(ctx, task); err != nil {
			t.Fatalf("sim:merge %d: %v", b, err)
		}
	}
}

// TestPairsThenMergeEqualFullSearch: scoring pairs of groups once and
// merging the partial lists gives, block by block, bit for bit the lists
// of the portable kernel searching every row against all rows — for
// catalogues whose blocks do and do not fill the groups.
func TestPairsThenMergeEqualFullSearch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, k, blockRows, top int }{
		{1, 3, 4, 5},    // one book: no neighbours at all
		{10, 3, 4, 5},   // 3 blocks, groups of 2: one short group
		{37, 5, 4, 20},  // 10 blocks, groups of 4, top above most groups' size
		{64, 2, 4, 3},   // 16 blocks: a square of 4 groups
		{101, 10, 7, 4}, // last block short
	} {
		d, rs, l, f, _ := similarityRun(t, c.n, c.k, c.blockRows, c.top)
		ctx := t.Context()
		runSimilarity(ctx, t, d, l)
		// The worker normalises the stored factors again, as it always has.
		f = append([]float32(nil), f...)
		skip := similarity.Normalize(f, c.k)
		for b := range l.Blocks(c.n) {
			start, end := l.Range(b, c.n)
			want := make([]similarity.Neighbor, (end-start)*c.top)
			if err := (similarity.Portable{}).TopK(ctx, f, c.k, skip, start, end, c.top, want); err != nil {
				t.Fatal(err)
			}
			got, _, err := rs.TopK(ctx, b)
			if err != nil {
				t.Fatalf("n=%d block %d: %v", c.n, b, err)
			}
			if got.Start != start || got.Top != c.top || len(got.Index) != len(want) {
				t.Fatalf("n=%d block %d: start %d top %d len %d, want %d %d %d", c.n, b, got.Start, got.Top, len(got.Index), start, c.top, len(want))
			}
			for e, nb := range want {
				if got.Index[e] != nb.Index || got.Score[e] != nb.Score {
					t.Fatalf("n=%d block %d row %d rank %d: got (%d, %v), want (%d, %v)", c.n, b, start+e/c.top, e%c.top, got.Index[e], got.Score[e], nb.Index, nb.Score)
				}
			}
		}
	}
}

// TestCorruptPartialRunsPairAgain: a merge that finds a partial list
// corrupt removes it, enqueues the sim:pair task that wrote it, and fails
// without writing its top-k block.
func TestCorruptPartialRunsPairAgain(t *testing.T) {
	t.Parallel()
	d, rs, l, _, dir := similarityRun(t, 37, 4, 4, 5)
	ctx := t.Context()
	if l.Groups() != 3 || l.GroupBlocks != 4 {
		t.Fatalf("layout %+v: want 3 groups of 4 blocks", l)
	}
	runSimilarity(ctx, t, d, l)
	// Block 5 is in group 1; its partial list from pair (1, 2) goes bad.
	bad := filepath.Join(dir, rs.Keys().Pair(1, 2, 5))
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rs.Remove(ctx, rs.Keys().TopK(5)); err != nil {
		t.Fatal(err)
	}
	task, err := tasks.NewSimMerge(tasks.SimMerge{Run: run, Gen: "g1", Block: 5})
	if err != nil {
		t.Fatal(err)
	}
	err = (SimMerge{d}).ProcessTask(ctx, task)
	if err == nil || !strings.Contains(err.Error(), "similarity block 5 from group pair (1, 2)") || !strings.Contains(err.Error(), "enqueued its producer") {
		t.Fatalf("ProcessTask = %v, want an error naming the corrupt partial list and the re-run producer", err)
	}
	if ok, _ := rs.Exists(ctx, rs.Keys().TopK(5)); ok {
		t.Error("the merge wrote a top-k block from a corrupt partial list")
	}
	q := d.Enqueuer.(*fakeQueue)
	if len(q.tasks) != 1 {
		t.Fatalf("%d tasks enqueued, want the producer", len(q.tasks))
	}
	p, err := tasks.ParseSimPair(q.tasks[0].Payload())
	if want := (tasks.SimPair{Run: run, Gen: "g1", I: 1, J: 2}); err != nil || p != want {
		t.Errorf("enqueued %+v (%v), want %+v", p, err, want)
	}
}
