package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

func TestCachePurge(t *testing.T) {
	t.Parallel()
	c := NewCache(1 << 20)
	for _, k := range []string{"plan:r-a", "layout:r-a", "plan:r-b"} {
		if _, err := c.Get(t.Context(), k, func(context.Context) (any, int64, error) { return k, 10, nil }); err != nil {
			t.Fatal(err)
		}
	}
	c.Purge(func(k string) bool { return k != "plan:r-b" })
	loads := 0
	for _, k := range []string{"plan:r-a", "layout:r-a", "plan:r-b"} {
		c.Get(t.Context(), k, func(context.Context) (any, int64, error) { loads++; return k, 10, nil })
	}
	if loads != 2 {
		t.Errorf("%d loads after purging two keys, want 2", loads)
	}
	if _, _, held := c.Stats(); held != 30 {
		t.Errorf("cache holds %d bytes, want 30", held)
	}
}

// TestPlanOfGeneration: a worker that cached a run's plan drops it when a
// task of a newer generation arrives, and refuses a task of an older one.
func TestPlanOfGeneration(t *testing.T) {
	t.Parallel()
	st, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &Deps{Store: st, Cache: NewCache(1 << 20)}
	put := func(gen string, blockRows int) {
		p := tasks.Plan{Version: tasks.PlanVersion, Run: "r-gen", Gen: gen, BlockRows: blockRows,
			Books: "b.csv", Ratings: "r.csv",
			Prepare:    tasks.PrepareParams{MinUserRatings: 5, MinBookRatings: 5, TestFraction: 0.2},
			ALS:        als.Params{Rank: 10, Iterations: 10, Reg: 0.1, Nonnegative: true, Seed: 42},
			Similarity: similarity.Params{Top: 20},
			Target:     tasks.TargetSpec{Kind: "files", Dir: "/tmp/out", BooksTable: "Books", SimilaritiesTable: "BookSimilarities"},
		}
		data, _ := json.Marshal(p)
		if err := st.Put(t.Context(), runstore.RunKeys("r-gen").Plan(), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	put("g1", 64)
	if p, err := d.planOf(t.Context(), "r-gen", "g1"); err != nil || p.BlockRows != 64 {
		t.Fatalf("gen g1: %+v %v", p, err)
	}
	put("g2", 500)
	if p, err := d.planOf(t.Context(), "r-gen", "g2"); err != nil || p.BlockRows != 500 {
		t.Fatalf("gen g2 after g1 was cached: block rows %d, %v", p.BlockRows, err)
	}
	if _, err := d.planOf(t.Context(), "r-gen", "g1"); !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("a task of the older generation: %v, want a SkipRetry error", err)
	}
}
