package blocks

import (
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const stringsSchema = "strings/v1"

func stringsArrowSchema(md *arrow.Metadata) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "value", Type: arrow.BinaryTypes.String}}, md)
}

// EncodeStrings writes s to w as a strings/v1 stream of the given kind
// ("users", "books": the id dictionaries, entry i naming index i). Every
// string must be valid UTF-8.
func EncodeStrings(w io.Writer, kind string, s []string) error {
	return encodeStrings(w, memory.DefaultAllocator, kind, s)
}

func encodeStrings(w io.Writer, mem memory.Allocator, kind string, s []string) error {
	if kind == "" {
		return fmt.Errorf("encode strings: kind is empty")
	}
	col, err := stringArray(mem, "value", s)
	if err != nil {
		return fmt.Errorf("encode strings %s: %w", kind, err)
	}
	defer col.Release()
	md := metadata(stringsSchema, "kind", kind)
	if err := writeBatch(w, mem, stringsArrowSchema(md), []arrow.Array{col}, len(s)); err != nil {
		return fmt.Errorf("encode strings %s: %w", kind, err)
	}
	return nil
}

// DecodeStrings reads a strings/v1 stream and checks that it holds the
// given kind. The strings are copies; nothing needs releasing.
func DecodeStrings(r io.Reader, kind string) ([]string, error) {
	return decodeStrings(r, memory.DefaultAllocator, kind)
}

func decodeStrings(r io.Reader, mem memory.Allocator, kind string) ([]string, error) {
	rec, err := readBatch(r, mem, stringsSchema)
	if err != nil {
		return nil, fmt.Errorf("decode strings %s: %w", kind, err)
	}
	defer rec.Release()
	s := rec.Schema()
	if got, _ := s.Metadata().GetValue("kind"); got != kind {
		return nil, fmt.Errorf("decode strings %s: %w: kind is %q, want %q", kind, ErrUnknownSchema, got, kind)
	}
	if err := checkFields(s, stringsArrowSchema(nil)); err != nil {
		return nil, fmt.Errorf("decode strings %s: %w", kind, err)
	}
	out, err := stringValues("value", rec.Column(0), int(rec.NumRows()))
	if err != nil {
		return nil, fmt.Errorf("decode strings %s: %w", kind, err)
	}
	return out, nil
}

// stringArray builds a utf8 array of s, refusing invalid UTF-8 and data
// beyond what int32 offsets can address.
func stringArray(mem memory.Allocator, name string, s []string) (arrow.Array, error) {
	total := 0
	for i, v := range s {
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%s[%d] is not valid UTF-8: %q", name, i, v)
		}
		total += len(v)
		if total > math.MaxInt32 {
			return nil, fmt.Errorf("%s holds more than %d bytes", name, math.MaxInt32)
		}
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(len(s))
	b.ReserveData(total)
	b.AppendValues(s, nil)
	return b.NewArray(), nil
}

// stringValues copies the rows values of a non-null utf8 column into Go
// strings, checking offsets and UTF-8. All values share one allocation.
func stringValues(name string, a arrow.Array, rows int) ([]string, error) {
	if err := checkRows(rows, 4); err != nil {
		return nil, err
	}
	if err := checkLen(name, a, rows); err != nil {
		return nil, err
	}
	d := a.Data()
	if err := checkNoNulls(name, d); err != nil {
		return nil, err
	}
	out := make([]string, rows)
	if rows == 0 {
		return out, nil
	}
	offsets, err := fixedWidth[int32](name, buffer(d, 1), rows+1)
	if err != nil {
		return nil, err
	}
	var data []byte
	if b := buffer(d, 2); b != nil {
		data = b.Bytes()
	}
	first, last := offsets[0], offsets[rows]
	if first < 0 || first > last || int(last) > len(data) {
		return nil, fmt.Errorf("%w: column %q offsets span [%d, %d] outside its %d data bytes", ErrCorrupt, name, first, last, len(data))
	}
	all := string(data[first:last])
	for i := range rows {
		beg, end := offsets[i], offsets[i+1]
		if beg > end || end > last {
			return nil, fmt.Errorf("%w: column %q value %d has offsets [%d, %d]", ErrCorrupt, name, i, beg, end)
		}
		v := all[beg-first : end-first]
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: column %q value %d is not valid UTF-8", ErrCorrupt, name, i)
		}
		out[i] = v
	}
	return out, nil
}
