package runstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRun(t *testing.T) (*Run, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return Open(st, "r-test"), dir
}

func TestBlocksRoundTripAndCorruption(t *testing.T) {
	t.Parallel()
	rs, dir := newRun(t)
	ctx := t.Context()
	f := blocks.Factors{Start: 4, K: 2, Data: []float32{1, 2, 3, 4}}
	if err := rs.PutFactors(ctx, 3, "items", 1, f); err != nil {
		t.Fatal(err)
	}
	got, n, err := rs.Factors(ctx, 3, "items", 1)
	if err != nil || got.Start != 4 || len(got.Data) != 4 || got.Data[3] != 4 || n == 0 {
		t.Fatalf("Factors = %+v, %d bytes, %v", got, n, err)
	}
	path := filepath.Join(dir, RunKeys("r-test").Factors(3, "items", 1))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"flipped":   flip(good, len(good)/2),
		"truncated": good[:len(good)-3],
		"empty":     {},
	}
	for name, data := range cases {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := rs.Factors(ctx, 3, "items", 1)
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || !errors.Is(err, blocks.ErrChecksum) {
			t.Fatalf("%s block: %v, want a *CorruptError matching ErrCorrupt and blocks.ErrChecksum", name, err)
		}
		want := Block{Kind: "factors", Iteration: 3, Side: "items", Index: 1}
		if ce.Block != want || ce.Key != RunKeys("r-test").Factors(3, "items", 1) {
			t.Errorf("%s block: names %+v at %s, want %+v", name, ce.Block, ce.Key, want)
		}
	}
	if err := rs.Remove(ctx, RunKeys("r-test").Factors(3, "items", 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Factors(ctx, 3, "items", 1); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Errorf("removed block: %v, want ErrNotFound", err)
	}
}

func TestTopKCorruptNamesBlock(t *testing.T) {
	t.Parallel()
	rs, dir := newRun(t)
	ctx := t.Context()
	tk := blocks.TopK{Start: 0, Top: 2, Index: []int32{1, -1, 0, -1}, Score: []float32{0.5, 0, 0.5, 0}}
	if err := rs.PutTopK(ctx, 7, tk); err != nil {
		t.Fatal(err)
	}
	if got, _, err := rs.TopK(ctx, 7); err != nil || got.Index[0] != 1 {
		t.Fatalf("TopK = %+v, %v", got, err)
	}
	path := filepath.Join(dir, RunKeys("r-test").TopK(7))
	data, _ := os.ReadFile(path)
	os.WriteFile(path, flip(data, 10), 0o644)
	var ce *CorruptError
	if _, _, err := rs.TopK(ctx, 7); !errors.As(err, &ce) || ce.Block != (Block{Kind: "topk", Index: 7}) {
		t.Fatalf("corrupt top-k block: %v", err)
	}
}

func TestDocs(t *testing.T) {
	t.Parallel()
	rs, _ := newRun(t)
	ctx := t.Context()
	if ok, err := rs.Has(ctx, LayoutDoc); ok || err != nil {
		t.Fatalf("Has before Put = %v, %v", ok, err)
	}
	var v struct{ A int }
	if err := rs.GetJSON(ctx, ReportDoc, &v); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing report: %v, want ErrNotFound", err)
	}
	if err := rs.PutJSON(ctx, ReportDoc, struct{ A int }{7}); err != nil {
		t.Fatal(err)
	}
	if err := rs.GetJSON(ctx, ReportDoc, &v); err != nil || v.A != 7 {
		t.Fatalf("GetJSON = %+v, %v", v, err)
	}
	if err := rs.PutLoadResult(ctx, LoadResult{Block: 3, Books: 5}); err != nil {
		t.Fatal(err)
	}
	if res, err := rs.LoadResult(ctx, 3); err != nil || res.Books != 5 {
		t.Fatalf("LoadResult = %+v, %v", res, err)
	}
	if err := rs.RemoveAll(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := rs.Has(ctx, ReportDoc); ok {
		t.Error("RemoveAll left the report")
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0xff
	return out
}
