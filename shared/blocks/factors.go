package blocks

import (
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const factorsSchema = "factors/v1"

// Factors is a block of factor rows: rows = len(Data)/K, row r is
// Data[r*K:(r+1)*K] and is global row Start+r of its side. An all-zero row
// means "no factors".
type Factors struct {
	Start, K int
	Data     []float32
}

func (f Factors) validate() error {
	switch {
	case f.Start < 0:
		return fmt.Errorf("start %d is negative", f.Start)
	case f.K <= 0 || !int32Fits(f.K):
		return fmt.Errorf("k %d is out of range", f.K)
	case len(f.Data)%f.K != 0:
		return fmt.Errorf("%d values are not a whole number of rows of k=%d", len(f.Data), f.K)
	}
	return nil
}

func factorsArrowSchema(k int, md *arrow.Metadata) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "factor", Type: arrow.FixedSizeListOfNonNullable(int32(k), arrow.PrimitiveTypes.Float32)},
	}, md)
}

// FactorsView is a decoded factor block. Its Data points into memory owned
// by the view and is valid until Release.
type FactorsView struct {
	Factors
	v view
}

// Release frees the view's memory and clears Factors. It may be called more
// than once.
func (v *FactorsView) Release() {
	if v == nil {
		return
	}
	v.v.release()
	v.Factors = Factors{}
}

// EncodeFactors writes f to w as a factors/v1 stream.
func EncodeFactors(w io.Writer, f Factors) error {
	return encodeFactors(w, memory.DefaultAllocator, f)
}

func encodeFactors(w io.Writer, mem memory.Allocator, f Factors) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("encode factors: %w", err)
	}
	if err := checkSize(4 * len(f.Data)); err != nil {
		return fmt.Errorf("encode factors: %w", err)
	}
	md := metadata(factorsSchema, "start", strconv.Itoa(f.Start), "k", strconv.Itoa(f.K))
	col := fixedSizeListArray(arrow.PrimitiveTypes.Float32, f.K, f.Data)
	defer col.Release()
	if err := writeBatch(w, mem, factorsArrowSchema(f.K, md), []arrow.Array{col}, len(f.Data)/f.K); err != nil {
		return fmt.Errorf("encode factors: %w", err)
	}
	return nil
}

// DecodeFactors reads a factors/v1 stream. The caller must Release the view.
func DecodeFactors(r io.Reader) (*FactorsView, error) {
	return decodeFactors(r, memory.DefaultAllocator)
}

func decodeFactors(r io.Reader, mem memory.Allocator) (*FactorsView, error) {
	rec, err := readBatch(r, mem, factorsSchema)
	if err != nil {
		return nil, fmt.Errorf("decode factors: %w", err)
	}
	v := &FactorsView{v: view{rec: rec}}
	if err := v.fill(); err != nil {
		v.Release()
		return nil, fmt.Errorf("decode factors: %w", err)
	}
	return v, nil
}

func (v *FactorsView) fill() error {
	rec := v.v.rec
	s := rec.Schema()
	start, err := metaInt(s, "start")
	if err != nil {
		return err
	}
	k, err := metaInt(s, "k")
	if err != nil {
		return err
	}
	if k == 0 || !int32Fits(k) {
		return fmt.Errorf("%w: k %d is out of range", ErrCorrupt, k)
	}
	if err := checkFields(s, factorsArrowSchema(k, nil)); err != nil {
		return err
	}
	rows := int(rec.NumRows())
	data, err := fixedSizeListValues[float32]("factor", rec.Column(0), rows, k)
	if err != nil {
		return err
	}
	v.Factors = Factors{Start: start, K: k, Data: data}
	if err := v.Factors.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}
