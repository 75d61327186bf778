package blocks

import (
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const ratingsSchema = "ratings/v1"

// Ratings is a CSR block of ratings for global rows Start..Start+rows-1,
// rows = len(RowPtr)-1. Row r's ratings are Col[RowPtr[r]:RowPtr[r+1]]
// (indices into the other side) with values Val[RowPtr[r]:RowPtr[r+1]].
// An empty block has RowPtr [0].
//
// Invariants, checked by both encoder and decoder: RowPtr[0] == 0, RowPtr
// is non-decreasing, RowPtr[rows] == len(Col) == len(Val), Col >= 0. The
// order of Col within a row is the writer's business and is kept as is.
type Ratings struct {
	Start  int
	RowPtr []int32
	Col    []int32
	Val    []float32
}

func (r Ratings) validate() error {
	if r.Start < 0 {
		return fmt.Errorf("start %d is negative", r.Start)
	}
	if len(r.RowPtr) == 0 {
		return fmt.Errorf("row_ptr is empty, want at least [0]")
	}
	if r.RowPtr[0] != 0 {
		return fmt.Errorf("row_ptr[0] is %d, want 0", r.RowPtr[0])
	}
	for i := 1; i < len(r.RowPtr); i++ {
		if r.RowPtr[i] < r.RowPtr[i-1] {
			return fmt.Errorf("row_ptr[%d]=%d is below row_ptr[%d]=%d", i, r.RowPtr[i], i-1, r.RowPtr[i-1])
		}
	}
	last := int(r.RowPtr[len(r.RowPtr)-1])
	if last != len(r.Col) || last != len(r.Val) {
		return fmt.Errorf("row_ptr ends at %d but there are %d cols and %d vals", last, len(r.Col), len(r.Val))
	}
	for i, c := range r.Col {
		if c < 0 {
			return fmt.Errorf("col[%d] is %d, want >= 0", i, c)
		}
	}
	return nil
}

var ratingEntry = arrow.StructOf(
	arrow.Field{Name: "col", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "val", Type: arrow.PrimitiveTypes.Float32},
)

func ratingsArrowSchema(md *arrow.Metadata) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "ratings", Type: arrow.ListOfNonNullable(ratingEntry)},
	}, md)
}

// RatingsView is a decoded ratings block. Its slices point into memory
// owned by the view and are valid until Release.
type RatingsView struct {
	Ratings
	v view
}

// Release frees the view's memory and clears Ratings. It may be called more
// than once.
func (v *RatingsView) Release() {
	if v == nil {
		return
	}
	v.v.release()
	v.Ratings = Ratings{}
}

// EncodeRatings writes r to w as a ratings/v1 stream.
func EncodeRatings(w io.Writer, r Ratings) error {
	return encodeRatings(w, memory.DefaultAllocator, r)
}

func encodeRatings(w io.Writer, mem memory.Allocator, r Ratings) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("encode ratings: %w", err)
	}
	if err := checkSize(4*len(r.RowPtr) + 8*len(r.Col)); err != nil {
		return fmt.Errorf("encode ratings: %w", err)
	}
	col := primitiveData(arrow.PrimitiveTypes.Int32, r.Col)
	defer col.Release()
	val := primitiveData(arrow.PrimitiveTypes.Float32, r.Val)
	defer val.Release()
	entries := array.NewData(ratingEntry, len(r.Col), []*memory.Buffer{nil}, []arrow.ArrayData{col, val}, 0, 0)
	defer entries.Release()
	rowPtr := primitiveData(arrow.PrimitiveTypes.Int32, r.RowPtr)
	defer rowPtr.Release()
	rows := len(r.RowPtr) - 1
	list := array.NewData(arrow.ListOfNonNullable(ratingEntry), rows,
		[]*memory.Buffer{nil, rowPtr.Buffers()[1]}, []arrow.ArrayData{entries}, 0, 0)
	defer list.Release()
	arr := array.MakeFromData(list)
	defer arr.Release()

	md := metadata(ratingsSchema, "start", strconv.Itoa(r.Start))
	if err := writeBatch(w, mem, ratingsArrowSchema(md), []arrow.Array{arr}, rows); err != nil {
		return fmt.Errorf("encode ratings: %w", err)
	}
	return nil
}

// DecodeRatings reads a ratings/v1 stream and checks the CSR invariants.
// The caller must Release the view.
func DecodeRatings(r io.Reader) (*RatingsView, error) {
	return decodeRatings(r, memory.DefaultAllocator)
}

func decodeRatings(r io.Reader, mem memory.Allocator) (*RatingsView, error) {
	rec, err := readBatch(r, mem, ratingsSchema)
	if err != nil {
		return nil, fmt.Errorf("decode ratings: %w", err)
	}
	v := &RatingsView{v: view{rec: rec}}
	if err := v.fill(); err != nil {
		v.Release()
		return nil, fmt.Errorf("decode ratings: %w", err)
	}
	return v, nil
}

func (v *RatingsView) fill() error {
	rec := v.v.rec
	s := rec.Schema()
	start, err := metaInt(s, "start")
	if err != nil {
		return err
	}
	if err := checkFields(s, ratingsArrowSchema(nil)); err != nil {
		return err
	}
	rows := int(rec.NumRows())
	if err := checkRows(rows, 4); err != nil {
		return err
	}
	col := rec.Column(0)
	if err := checkLen("ratings", col, rows); err != nil {
		return err
	}
	list := col.Data()
	if err := checkNoNulls("ratings", list); err != nil {
		return err
	}
	rowPtr := []int32{0}
	if rows > 0 {
		if rowPtr, err = fixedWidth[int32]("ratings", buffer(list, 1), rows+1); err != nil {
			return err
		}
	}
	if len(list.Children()) != 1 || len(list.Children()[0].Children()) != 2 {
		return fmt.Errorf("%w: column %q does not hold a struct of 2 fields", ErrCorrupt, "ratings")
	}
	entries := list.Children()[0]
	nnz := entries.Len()
	colData, valData := entries.Children()[0], entries.Children()[1]
	if colData.Len() != nnz || valData.Len() != nnz {
		return fmt.Errorf("%w: column %q has %d entries but %d cols and %d vals", ErrCorrupt, "ratings", nnz, colData.Len(), valData.Len())
	}
	cols, err := fixedWidth[int32]("ratings.col", buffer(colData, 1), nnz)
	if err != nil {
		return err
	}
	vals, err := fixedWidth[float32]("ratings.val", buffer(valData, 1), nnz)
	if err != nil {
		return err
	}
	v.Ratings = Ratings{Start: start, RowPtr: rowPtr, Col: cols, Val: vals}
	if err := v.Ratings.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}
