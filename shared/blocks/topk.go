package blocks

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const topKSchema = "topk/v1"

// TopK is a block of nearest-neighbour lists for global rows
// Start..Start+rows-1, rows = len(Index)/Top. Row r's neighbours are
// Index[r*Top:(r+1)*Top] with scores Score[r*Top:(r+1)*Top]; rows with
// fewer neighbours are padded with Index -1 and Score 0.
//
// Invariants, checked by both encoder and decoder: Top > 0, len(Index) ==
// len(Score) is a multiple of Top, Index >= -1, no Score is NaN.
type TopK struct {
	Start, Top int
	Index      []int32
	Score      []float32
}

func (t TopK) validate() error {
	switch {
	case t.Start < 0:
		return fmt.Errorf("start %d is negative", t.Start)
	case t.Top <= 0 || !int32Fits(t.Top):
		return fmt.Errorf("top %d is out of range", t.Top)
	case len(t.Index) != len(t.Score):
		return fmt.Errorf("%d indices but %d scores", len(t.Index), len(t.Score))
	case len(t.Index)%t.Top != 0:
		return fmt.Errorf("%d neighbours are not a whole number of rows of top=%d", len(t.Index), t.Top)
	}
	for i, x := range t.Index {
		if x < -1 {
			return fmt.Errorf("index[%d] is %d, want >= -1", i, x)
		}
	}
	for i, s := range t.Score {
		if math.IsNaN(float64(s)) {
			return fmt.Errorf("score[%d] is NaN", i)
		}
	}
	return nil
}

func topKArrowSchema(top int, md *arrow.Metadata) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "index", Type: arrow.FixedSizeListOfNonNullable(int32(top), arrow.PrimitiveTypes.Int32)},
		{Name: "score", Type: arrow.FixedSizeListOfNonNullable(int32(top), arrow.PrimitiveTypes.Float32)},
	}, md)
}

// TopKView is a decoded top-k block. Its slices point into memory owned by
// the view and are valid until Release.
type TopKView struct {
	TopK
	v view
}

// Release frees the view's memory and clears TopK. It may be called more
// than once.
func (v *TopKView) Release() {
	if v == nil {
		return
	}
	v.v.release()
	v.TopK = TopK{}
}

// EncodeTopK writes t to w as a topk/v1 stream.
func EncodeTopK(w io.Writer, t TopK) error {
	return encodeTopK(w, memory.DefaultAllocator, t)
}

func encodeTopK(w io.Writer, mem memory.Allocator, t TopK) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("encode topk: %w", err)
	}
	if err := checkSize(8 * len(t.Index)); err != nil {
		return fmt.Errorf("encode topk: %w", err)
	}
	index := fixedSizeListArray(arrow.PrimitiveTypes.Int32, t.Top, t.Index)
	defer index.Release()
	score := fixedSizeListArray(arrow.PrimitiveTypes.Float32, t.Top, t.Score)
	defer score.Release()
	md := metadata(topKSchema, "start", strconv.Itoa(t.Start), "top", strconv.Itoa(t.Top))
	if err := writeBatch(w, mem, topKArrowSchema(t.Top, md), []arrow.Array{index, score}, len(t.Index)/t.Top); err != nil {
		return fmt.Errorf("encode topk: %w", err)
	}
	return nil
}

// DecodeTopK reads a topk/v1 stream. The caller must Release the view.
func DecodeTopK(r io.Reader) (*TopKView, error) {
	return decodeTopK(r, memory.DefaultAllocator)
}

func decodeTopK(r io.Reader, mem memory.Allocator) (*TopKView, error) {
	rec, err := readBatch(r, mem, topKSchema)
	if err != nil {
		return nil, fmt.Errorf("decode topk: %w", err)
	}
	v := &TopKView{v: view{rec: rec}}
	if err := v.fill(); err != nil {
		v.Release()
		return nil, fmt.Errorf("decode topk: %w", err)
	}
	return v, nil
}

func (v *TopKView) fill() error {
	rec := v.v.rec
	s := rec.Schema()
	start, err := metaInt(s, "start")
	if err != nil {
		return err
	}
	top, err := metaInt(s, "top")
	if err != nil {
		return err
	}
	if top == 0 || !int32Fits(top) {
		return fmt.Errorf("%w: top %d is out of range", ErrCorrupt, top)
	}
	if err := checkFields(s, topKArrowSchema(top, nil)); err != nil {
		return err
	}
	rows := int(rec.NumRows())
	index, err := fixedSizeListValues[int32]("index", rec.Column(0), rows, top)
	if err != nil {
		return err
	}
	score, err := fixedSizeListValues[float32]("score", rec.Column(1), rows, top)
	if err != nil {
		return err
	}
	v.TopK = TopK{Start: start, Top: top, Index: index, Score: score}
	if err := v.TopK.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}
