package runstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// ErrNotFound is returned (wrapped) when an object of the run is missing.
var ErrNotFound = store.ErrNotFound

// ErrCorrupt is matched by every *CorruptError.
var ErrCorrupt = errors.New("corrupt block")

// Block names one block of a run by what produced it.
type Block struct {
	Kind      string // "ratings", "test", "factors", "pair", "topk", "catalog", "metadata", "catalog-factors", "strings"
	Iteration int    // factors
	Side      string // ratings, factors
	Index     int    // block number
	Pair      [2]int // pair: the groups (i, j) whose sim:pair task wrote it
}

func (b Block) String() string {
	switch b.Kind {
	case "factors":
		return fmt.Sprintf("%s factor block %d of iteration %d", b.Side, b.Index, b.Iteration)
	case "ratings":
		return fmt.Sprintf("%s rating block %d", b.Side, b.Index)
	case "test":
		return fmt.Sprintf("test rating block %d", b.Index)
	case "topk":
		return fmt.Sprintf("similarity block %d", b.Index)
	case "pair":
		return fmt.Sprintf("partial top lists of similarity block %d from group pair (%d, %d)", b.Index, b.Pair[0], b.Pair[1])
	}
	return b.Kind
}

// CorruptError is a block whose checksum does not match or that does not
// decode: it must not be consumed, and its producer must run again.
type CorruptError struct {
	Run   string
	Key   string
	Block Block
	Err   error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s of run %s (%s) is corrupt: %v", e.Block, e.Run, e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes every CorruptError match ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Run is the stored state of one run.
type Run struct {
	st   store.Store
	id   string
	keys Keys
}

// Open returns run's objects in st.
func Open(st store.Store, run string) *Run { return &Run{st: st, id: run, keys: RunKeys(run)} }

// ID is the run id.
func (r *Run) ID() string { return r.id }

// Keys is the run's key layout (for barriers listing a prefix).
func (r *Run) Keys() Keys { return r.keys }

// Doc is a JSON document of a run.
type Doc int

// The run's JSON documents.
const (
	PlanDoc          Doc = iota // the plan: written before the run is enqueued
	ReportDoc                   // the run report
	LayoutDoc                   // prepare's block layout: marks prepare done
	PrepareDoc                  // prepare's counts and issues
	MetricsDoc                  // train's RMSE and catalogue counts
	CatalogLayoutDoc            // the catalogue's layout: marks the post-train step done
	CommittedDoc                // the load was committed to the target
)

func (r *Run) docKey(d Doc) string {
	switch d {
	case PlanDoc:
		return r.keys.Plan()
	case ReportDoc:
		return r.keys.Report()
	case LayoutDoc:
		return r.keys.Layout()
	case PrepareDoc:
		return r.keys.PrepareReport()
	case MetricsDoc:
		return r.keys.Metrics()
	case CatalogLayoutDoc:
		return r.keys.CatalogLayout()
	case CommittedDoc:
		return r.keys.Committed()
	}
	panic(fmt.Sprintf("runstore: unknown doc %d", d))
}

// docLimit bounds a JSON document read.
const docLimit = 64 << 20

// GetJSON decodes document d into v; a missing one wraps ErrNotFound.
func (r *Run) GetJSON(ctx context.Context, d Doc, v any) error {
	key := r.docKey(d)
	data, err := r.read(ctx, key, docLimit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// PutJSON writes v as document d.
func (r *Run) PutJSON(ctx context.Context, d Doc, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.docKey(d), err)
	}
	return r.write(ctx, r.docKey(d), append(data, '\n'))
}

// Has reports whether document d exists.
func (r *Run) Has(ctx context.Context, d Doc) (bool, error) { return r.Exists(ctx, r.docKey(d)) }

// Exists reports whether key is in the store.
func (r *Run) Exists(ctx context.Context, key string) (bool, error) {
	_, err := r.st.Stat(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", key, err)
	}
	return true, nil
}

// Plan reads and validates the stored plan.
func (r *Run) Plan(ctx context.Context) (tasks.Plan, []byte, error) {
	data, err := r.read(ctx, r.keys.Plan(), docLimit)
	if err != nil {
		return tasks.Plan{}, nil, fmt.Errorf("read plan of run %s: %w", r.id, err)
	}
	p, err := tasks.DecodePlan(data)
	return p, data, err
}

// Present lists the keys under prefix as a set.
func (r *Run) Present(ctx context.Context, prefix string) (map[string]bool, error) {
	keys, err := r.st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m, nil
}

// Remove deletes one object (a corrupt block, so that its producer writes
// it again).
func (r *Run) Remove(ctx context.Context, key string) error {
	if err := r.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("remove %s: %w", key, err)
	}
	return nil
}

// RemoveAll deletes every object of the run. Callers hold the run's lease.
func (r *Run) RemoveAll(ctx context.Context) error {
	if err := r.st.Delete(ctx, r.keys.Prefix()); err != nil {
		return fmt.Errorf("discard stored outputs of run %s: %w", r.id, err)
	}
	return nil
}

// LoadResult is what one load task wrote; the coordinator sums them to
// check the counts it reads back.
type LoadResult struct {
	Block        int               `json:"block"`
	Books        int64             `json:"books"`
	Similarities int64             `json:"similarities"`
	Stats        dynamo.WriteStats `json:"stats"`
}

// PutLoadResult records what load task b wrote: its presence marks the
// block loaded.
func (r *Run) PutLoadResult(ctx context.Context, res LoadResult) error {
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return r.write(ctx, r.keys.Load(res.Block), append(data, '\n'))
}

// LoadResult reads what load task b wrote.
func (r *Run) LoadResult(ctx context.Context, b int) (LoadResult, error) {
	var res LoadResult
	key := r.keys.Load(b)
	data, err := r.read(ctx, key, docLimit)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("decode %s: %w", key, err)
	}
	return res, nil
}

// PutRatings writes rating block b of side ("users" or "items": training
// CSR by that side; "test": test ratings by user).
func (r *Run) PutRatings(ctx context.Context, side string, b int, x blocks.Ratings) error {
	return r.putBlock(ctx, r.ratingsKey(side, b), func(w io.Writer) error { return blocks.EncodeRatings(w, x) })
}

func (r *Run) ratingsKey(side string, b int) string {
	if side == "test" {
		return r.keys.Test(b)
	}
	return r.keys.Ratings(side, b)
}

// Ratings reads rating block b of side into Go-owned slices, and the bytes
// read.
func (r *Run) Ratings(ctx context.Context, side string, b int) (blocks.Ratings, int64, error) {
	ref := Block{Kind: "ratings", Side: side, Index: b}
	if side == "test" {
		ref = Block{Kind: "test", Index: b}
	}
	key := r.ratingsKey(side, b)
	data, err := r.readBlock(ctx, key, ref)
	if err != nil {
		return blocks.Ratings{}, int64(len(data)), err
	}
	v, err := blocks.DecodeRatings(bytes.NewReader(data))
	if err != nil {
		return blocks.Ratings{}, int64(len(data)), r.corrupt(key, ref, err)
	}
	defer v.Release()
	x := v.Ratings
	x.RowPtr, x.Col, x.Val = slices.Clone(x.RowPtr), slices.Clone(x.Col), slices.Clone(x.Val)
	return x, int64(len(data)), nil
}

// PutFactors writes factor block b of side after iteration.
func (r *Run) PutFactors(ctx context.Context, iteration int, side string, b int, f blocks.Factors) error {
	return r.putBlock(ctx, r.keys.Factors(iteration, side, b), func(w io.Writer) error { return blocks.EncodeFactors(w, f) })
}

// Factors reads factor block b of side after iteration.
func (r *Run) Factors(ctx context.Context, iteration int, side string, b int) (blocks.Factors, int64, error) {
	ref := Block{Kind: "factors", Iteration: iteration, Side: side, Index: b}
	return r.factors(ctx, r.keys.Factors(iteration, side, b), ref)
}

func (r *Run) factors(ctx context.Context, key string, ref Block) (blocks.Factors, int64, error) {
	data, err := r.readBlock(ctx, key, ref)
	if err != nil {
		return blocks.Factors{}, int64(len(data)), err
	}
	v, err := blocks.DecodeFactors(bytes.NewReader(data))
	if err != nil {
		return blocks.Factors{}, int64(len(data)), r.corrupt(key, ref, err)
	}
	defer v.Release()
	f := v.Factors
	f.Data = slices.Clone(f.Data)
	return f, int64(len(data)), nil
}

// ReadFactors assembles the whole factor matrix (rows × k) of side after
// iteration from its blocks, and reports the bytes read. Iteration 0 of
// users is the seeded init, computed, not read. A block that is missing
// wraps ErrNotFound; one that is corrupt or of the wrong shape is a
// *CorruptError.
func (r *Run) ReadFactors(ctx context.Context, plan tasks.Plan, l tasks.Layout, iteration int, side string) ([]float32, int64, error) {
	k := plan.ALS.Rank
	n := l.Rows(side)
	out := make([]float32, n*k)
	if iteration == 0 {
		als.InitFactors(plan.ALS.Seed, sideOf(side), 0, k, out)
		return out, 0, nil
	}
	var fetched int64
	for b := range l.Blocks(n) {
		if err := ctx.Err(); err != nil {
			return nil, fetched, err
		}
		start, end := l.Range(b, n)
		f, size, err := r.Factors(ctx, iteration, side, b)
		fetched += size
		if err != nil {
			return nil, fetched, err
		}
		if f.Start != start || f.K != k || len(f.Data) != (end-start)*k {
			return nil, fetched, r.corrupt(r.keys.Factors(iteration, side, b), Block{Kind: "factors", Iteration: iteration, Side: side, Index: b},
				fmt.Errorf("holds rows %d+%d×%d, want %d+%d×%d", f.Start, len(f.Data)/max(f.K, 1), f.K, start, end-start, k))
		}
		copy(out[start*k:end*k], f.Data)
	}
	return out, fetched, nil
}

func sideOf(side string) als.Side {
	if side == "users" {
		return als.Users
	}
	return als.Items
}

// PutMetadata writes the metadata of the model's books (prepare).
func (r *Run) PutMetadata(ctx context.Context, c blocks.Catalog) error {
	return r.putBlock(ctx, r.keys.Metadata(), func(w io.Writer) error { return blocks.EncodeCatalog(w, c) })
}

// Metadata reads the model's book metadata.
func (r *Run) Metadata(ctx context.Context) (blocks.Catalog, int64, error) {
	return r.catalog(ctx, r.keys.Metadata(), Block{Kind: "metadata"})
}

// PutCatalog writes the similarity catalogue.
func (r *Run) PutCatalog(ctx context.Context, c blocks.Catalog) error {
	return r.putBlock(ctx, r.keys.Catalog(), func(w io.Writer) error { return blocks.EncodeCatalog(w, c) })
}

// Catalog reads the similarity catalogue.
func (r *Run) Catalog(ctx context.Context) (blocks.Catalog, int64, error) {
	return r.catalog(ctx, r.keys.Catalog(), Block{Kind: "catalog"})
}

func (r *Run) catalog(ctx context.Context, key string, ref Block) (blocks.Catalog, int64, error) {
	data, err := r.readBlock(ctx, key, ref)
	if err != nil {
		return blocks.Catalog{}, int64(len(data)), err
	}
	c, err := blocks.DecodeCatalog(bytes.NewReader(data))
	if err != nil {
		return blocks.Catalog{}, int64(len(data)), r.corrupt(key, ref, err)
	}
	return c, int64(len(data)), nil
}

// PutCatalogFactors writes the catalogue's normalised factors.
func (r *Run) PutCatalogFactors(ctx context.Context, f blocks.Factors) error {
	return r.putBlock(ctx, r.keys.CatalogFactors(), func(w io.Writer) error { return blocks.EncodeFactors(w, f) })
}

// CatalogFactors reads the catalogue's normalised factors.
func (r *Run) CatalogFactors(ctx context.Context) (blocks.Factors, int64, error) {
	return r.factors(ctx, r.keys.CatalogFactors(), Block{Kind: "catalog-factors"})
}

// PutStrings writes an id dictionary ("users" or "books").
func (r *Run) PutStrings(ctx context.Context, kind string, s []string) error {
	key := r.keys.Users()
	if kind == "books" {
		key = r.keys.Books()
	}
	return r.putBlock(ctx, key, func(w io.Writer) error { return blocks.EncodeStrings(w, kind, s) })
}

// PutTopK writes similarity block b.
func (r *Run) PutTopK(ctx context.Context, b int, t blocks.TopK) error {
	return r.putBlock(ctx, r.keys.TopK(b), func(w io.Writer) error { return blocks.EncodeTopK(w, t) })
}

// TopK reads similarity block b into Go-owned slices.
func (r *Run) TopK(ctx context.Context, b int) (blocks.TopK, int64, error) {
	return r.topK(ctx, r.keys.TopK(b), Block{Kind: "topk", Index: b})
}

// PutPair writes the partial top lists of catalogue block b from group pair
// (i, j).
func (r *Run) PutPair(ctx context.Context, i, j, b int, t blocks.TopK) error {
	return r.putBlock(ctx, r.keys.Pair(i, j, b), func(w io.Writer) error { return blocks.EncodeTopK(w, t) })
}

// Pair reads the partial top lists of catalogue block b from group pair
// (i, j).
func (r *Run) Pair(ctx context.Context, i, j, b int) (blocks.TopK, int64, error) {
	return r.topK(ctx, r.keys.Pair(i, j, b), Block{Kind: "pair", Index: b, Pair: [2]int{i, j}})
}

// PutPaired marks group pair (i, j) done, after all its partial lists.
func (r *Run) PutPaired(ctx context.Context, i, j int) error {
	return r.write(ctx, r.keys.Paired(i, j), []byte("{}"))
}

func (r *Run) topK(ctx context.Context, key string, ref Block) (blocks.TopK, int64, error) {
	data, err := r.readBlock(ctx, key, ref)
	if err != nil {
		return blocks.TopK{}, int64(len(data)), err
	}
	v, err := blocks.DecodeTopK(bytes.NewReader(data))
	if err != nil {
		return blocks.TopK{}, int64(len(data)), r.corrupt(key, ref, err)
	}
	defer v.Release()
	t := v.TopK
	t.Index, t.Score = slices.Clone(t.Index), slices.Clone(t.Score)
	return t, int64(len(data)), nil
}

func (r *Run) corrupt(key string, ref Block, err error) error {
	return &CorruptError{Run: r.id, Key: key, Block: ref, Err: err}
}

// putBlock encodes a block, seals it with its checksum and writes it.
func (r *Run) putBlock(ctx context.Context, key string, enc func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := enc(&buf); err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return r.write(ctx, key, blocks.Seal(buf.Bytes()))
}

// readBlock reads a sealed block and checks its checksum; it returns the
// bytes read (for fetch counters) even when they are corrupt.
func (r *Run) readBlock(ctx context.Context, key string, ref Block) ([]byte, error) {
	data, err := r.read(ctx, key, 1<<40)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return data, fmt.Errorf("%s of run %s is not in the block store: %w", ref, r.id, err)
		}
		return data, err
	}
	body, err := blocks.Unseal(data)
	if err != nil {
		return data, r.corrupt(key, ref, err)
	}
	return body, nil
}

func (r *Run) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	rc, err := r.st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return data, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

func (r *Run) write(ctx context.Context, key string, data []byte) error {
	if err := r.st.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
