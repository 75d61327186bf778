package blocks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// checkedAlloc returns an allocator that fails t if anything allocated
// through it is still held when the test ends.
func checkedAlloc(t testing.TB) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func randFactors(rng *rand.Rand, start, rows, k int) Factors {
	f := Factors{Start: start, K: k, Data: make([]float32, rows*k)}
	for i := range f.Data {
		f.Data[i] = float32(rng.NormFloat64())
	}
	return f
}

func randRatings(rng *rand.Rand, start, rows, maxPerRow, nCols int) Ratings {
	r := Ratings{Start: start, RowPtr: []int32{0}}
	for range rows {
		n := rng.IntN(maxPerRow + 1)
		c := int32(0)
		for range n {
			c += 1 + int32(rng.IntN(nCols))
			r.Col = append(r.Col, c)
			r.Val = append(r.Val, float32(1+rng.IntN(10)))
		}
		r.RowPtr = append(r.RowPtr, int32(len(r.Col)))
	}
	return r
}

func randTopK(rng *rand.Rand, start, rows, top int) TopK {
	t := TopK{Start: start, Top: top, Index: make([]int32, rows*top), Score: make([]float32, rows*top)}
	for r := range rows {
		found := rng.IntN(top + 1)
		for j := range top {
			i := r*top + j
			if j < found {
				t.Index[i] = int32(rng.IntN(1 << 20))
				t.Score[i] = float32(1 - float64(j)/float64(top))
			} else {
				t.Index[i] = -1
			}
		}
	}
	return t
}

// sampleEncodings returns a valid encoding of every block kind, for the
// corruption tests and fuzz seeds.
func sampleEncodings(t testing.TB) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string][]byte{}
	add := func(name string, enc func(w io.Writer) error) {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
		out[name] = buf.Bytes()
	}
	add("factors", func(w io.Writer) error { return EncodeFactors(w, randFactors(rng, 7, 5, 3)) })
	add("ratings", func(w io.Writer) error { return EncodeRatings(w, randRatings(rng, 7, 6, 4, 50)) })
	add("topk", func(w io.Writer) error { return EncodeTopK(w, randTopK(rng, 7, 4, 3)) })
	add("strings", func(w io.Writer) error { return EncodeStrings(w, "books", []string{"0195153448", "", "Ünïcode ✓"}) })
	add("catalog", func(w io.Writer) error { return EncodeCatalog(w, sampleCatalog()) })
	return out
}

func sampleCatalog() Catalog {
	return Catalog{
		Index:       []int32{0, 1},
		ISBN:        []string{"0195153448", "0002005018"},
		Title:       []string{"Classical Mythology", "Clara Callan"},
		Author:      []string{"Mark P. O. Morford", "Richard Bruce Wright"},
		Publisher:   []string{"Oxford University Press", "HarperFlamingo Canada"},
		ImageSmall:  []string{"http://images.amazon.com/images/P/0195153448.01.THUMBZZZ.jpg", ""},
		ImageMedium: []string{"http://images.amazon.com/images/P/0195153448.01.MZZZZZZZ.jpg", ""},
		Year:        []int32{2002, 0},
	}
}

// invalid marks a block that decoded without error but breaks its
// invariants; the error wraps neither sentinel, so tests flag it.
func invalid(err error) error {
	if err != nil {
		return fmt.Errorf("decoded an invalid block: %v", err)
	}
	return nil
}

// decoders decodes b as each kind with mem, releases what it got, and
// returns the error.
var decoders = map[string]func(b []byte, mem memory.Allocator) error{
	"factors": func(b []byte, mem memory.Allocator) error {
		v, err := decodeFactors(bytes.NewReader(b), mem)
		if err == nil {
			defer v.Release()
			return invalid(v.Factors.validate())
		}
		return err
	},
	"ratings": func(b []byte, mem memory.Allocator) error {
		v, err := decodeRatings(bytes.NewReader(b), mem)
		if err == nil {
			defer v.Release()
			return invalid(v.Ratings.validate())
		}
		return err
	},
	"topk": func(b []byte, mem memory.Allocator) error {
		v, err := decodeTopK(bytes.NewReader(b), mem)
		if err == nil {
			defer v.Release()
			return invalid(v.TopK.validate())
		}
		return err
	},
	"strings": func(b []byte, mem memory.Allocator) error {
		_, err := decodeStrings(bytes.NewReader(b), mem, "books")
		return err
	},
	"catalog": func(b []byte, mem memory.Allocator) error {
		c, err := decodeCatalog(bytes.NewReader(b), mem)
		if err == nil {
			return invalid(c.validate())
		}
		return err
	},
}

// writeRaw writes an IPC stream with any schema, bypassing the encoders'
// checks, to build invalid blocks.
func writeRaw(t *testing.T, md *arrow.Metadata, fields []arrow.Field, cols []arrow.Array, rows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeBatch(&buf, memory.NewGoAllocator(), arrow.NewSchema(fields, md), cols, rows); err != nil {
		t.Fatalf("write raw stream: %v", err)
	}
	for _, c := range cols {
		c.Release()
	}
	return buf.Bytes()
}

func float32Column(vals ...float32) arrow.Array {
	d := primitiveData(arrow.PrimitiveTypes.Float32, vals)
	defer d.Release()
	return array.MakeFromData(d)
}

func TestDecodeWrongSchema(t *testing.T) {
	t.Parallel()
	enc := sampleEncodings(t)
	factorsCol := func() arrow.Array { return fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2}) }
	factorsField := arrow.Field{Name: "factor", Type: arrow.FixedSizeListOfNonNullable(2, arrow.PrimitiveTypes.Float32)}
	v2 := writeRaw(t, metadata("factors/v2", "start", "0", "k", "2"), []arrow.Field{factorsField}, []arrow.Array{factorsCol()}, 1)
	noMeta := writeRaw(t, nil, []arrow.Field{factorsField}, []arrow.Array{factorsCol()}, 1)

	tests := []struct {
		name   string
		kind   string // decoder
		stream []byte
		want   []string // substrings of the error
	}{
		{"factors as ratings", "ratings", enc["factors"], []string{`"factors/v1"`, `"ratings/v1"`}},
		{"ratings as factors", "factors", enc["ratings"], []string{`"ratings/v1"`, `"factors/v1"`}},
		{"topk as factors", "factors", enc["topk"], []string{`"topk/v1"`, `"factors/v1"`}},
		{"factors as topk", "topk", enc["factors"], []string{`"factors/v1"`, `"topk/v1"`}},
		{"catalog as strings", "strings", enc["catalog"], []string{`"catalog/v1"`, `"strings/v1"`}},
		{"strings as catalog", "catalog", enc["strings"], []string{`"strings/v1"`, `"catalog/v1"`}},
		{"future version", "factors", v2, []string{`"factors/v2"`, `"factors/v1"`}},
		{"no schema metadata", "factors", noMeta, []string{`no "betterread.schema"`, `"factors/v1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := decoders[tt.kind](tt.stream, checkedAlloc(t))
			if !errors.Is(err, ErrUnknownSchema) {
				t.Fatalf("decode %s: got %v, want ErrUnknownSchema", tt.kind, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestDecodeWrongColumns(t *testing.T) {
	t.Parallel()
	f32list := func(k int32) arrow.DataType { return arrow.FixedSizeListOfNonNullable(k, arrow.PrimitiveTypes.Float32) }
	withNull := func() arrow.Array {
		b := array.NewFixedSizeListBuilderWithField(memory.NewGoAllocator(), 2,
			arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Float32, Nullable: false})
		defer b.Release()
		b.Append(true)
		b.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2}, nil)
		b.AppendNull() // appends 2 child values itself
		return b.NewArray()
	}
	fmeta := func(k string) *arrow.Metadata { return metadata(factorsSchema, "start", "0", "k", k) }

	tests := []struct {
		name   string
		md     *arrow.Metadata
		fields []arrow.Field
		cols   func() []arrow.Array
		rows   int
		want   string
	}{
		{
			name:   "float32 column instead of list",
			md:     fmeta("1"),
			fields: []arrow.Field{{Name: "factor", Type: arrow.PrimitiveTypes.Float32}},
			cols:   func() []arrow.Array { return []arrow.Array{float32Column(1, 2)} },
			rows:   2,
			want:   `column "factor" has type float32`,
		},
		{
			name:   "k disagrees with list size",
			md:     fmeta("3"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2)}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2})}
			},
			rows: 1,
			want: `want fixed_size_list<item: float32>[3]`,
		},
		{
			name:   "renamed column",
			md:     fmeta("2"),
			fields: []arrow.Field{{Name: "factors", Type: f32list(2)}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2})}
			},
			rows: 1,
			want: `column 0 is named "factors", want "factor"`,
		},
		{
			name:   "extra column",
			md:     fmeta("2"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2)}, {Name: "x", Type: arrow.PrimitiveTypes.Float32}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2}), float32Column(0)}
			},
			rows: 1,
			want: "schema has 2 columns, want 1",
		},
		{
			name:   "null row",
			md:     fmeta("2"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2), Nullable: true}},
			cols:   func() []arrow.Array { return []arrow.Array{withNull()} },
			rows:   2,
			want:   `column "factor" has 1 nulls`,
		},
		{
			name:   "k missing",
			md:     metadata(factorsSchema, "start", "0"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2)}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2})}
			},
			rows: 1,
			want: `schema metadata has no "k"`,
		},
		{
			name:   "k zero",
			md:     fmeta("0"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2)}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2})}
			},
			rows: 1,
			want: "k 0 is out of range",
		},
		{
			name:   "negative start",
			md:     metadata(factorsSchema, "start", "-4", "k", "2"),
			fields: []arrow.Field{{Name: "factor", Type: f32list(2)}},
			cols: func() []arrow.Array {
				return []arrow.Array{fixedSizeListArray(arrow.PrimitiveTypes.Float32, 2, []float32{1, 2})}
			},
			rows: 1,
			want: `"start" is "-4"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream := writeRaw(t, tt.md, tt.fields, tt.cols(), tt.rows)
			_, err := decodeFactors(bytes.NewReader(stream), checkedAlloc(t))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestDecodeNulls(t *testing.T) {
	t.Parallel()
	// A strings column with a null: the type is right, the data is not.
	b := array.NewStringBuilder(memory.NewGoAllocator())
	b.AppendValues([]string{"a", ""}, []bool{true, false})
	col := b.NewArray()
	b.Release()
	stream := writeRaw(t, metadata(stringsSchema, "kind", "users"),
		[]arrow.Field{{Name: "value", Type: arrow.BinaryTypes.String, Nullable: true}}, []arrow.Array{col}, 2)
	_, err := decodeStrings(bytes.NewReader(stream), checkedAlloc(t), "users")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `column "value" has 1 nulls`) {
		t.Fatalf("got %v, want ErrCorrupt naming the nulls", err)
	}
}

func TestDecodeTwoBatches(t *testing.T) {
	t.Parallel()
	var one bytes.Buffer
	if err := EncodeFactors(&one, Factors{K: 1, Data: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	// Splice a second copy of the record batch message before the
	// end-of-stream marker: schema | batch | batch | eos.
	b := one.Bytes()
	schemaEnd := bytes.Index(b, []byte{0xff, 0xff, 0xff, 0xff})
	second := bytes.Index(b[schemaEnd+4:], []byte{0xff, 0xff, 0xff, 0xff}) + schemaEnd + 4
	eos := len(b) - 8
	stream := slices.Concat(b[:eos], b[second:eos], b[eos:])
	_, err := decodeFactors(bytes.NewReader(stream), checkedAlloc(t))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "more than one record batch") {
		t.Fatalf("got %v, want ErrCorrupt for two batches", err)
	}
}

func TestDecodeEmptyStream(t *testing.T) {
	t.Parallel()
	for kind, decode := range decoders {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if err := decode(nil, checkedAlloc(t)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	t.Parallel()
	for kind, stream := range sampleEncodings(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			for n := range len(stream) {
				err := decoders[kind](stream[:n], mem)
				// Cutting exactly the 8-byte end-of-stream marker leaves a
				// complete block; arrow-go reads a clean EOF there as the end.
				if n == len(stream)-8 {
					if err != nil {
						t.Errorf("without end marker: %v", err)
					}
					continue
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("first %d of %d bytes: got %v, want ErrCorrupt", n, len(stream), err)
				}
			}
		})
	}
}

func TestDecodeBitFlips(t *testing.T) {
	t.Parallel()
	for kind, stream := range sampleEncodings(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			b := slices.Clone(stream)
			for i := range b {
				for _, bit := range []byte{0x01, 0x10, 0x80} {
					b[i] ^= bit
					// The decoders check what they return; a flip in a value
					// (a factor, a padding byte) may decode fine.
					if err := decoders[kind](b, mem); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
						t.Errorf("flip %#x at %d: error %v is neither ErrCorrupt nor ErrUnknownSchema", bit, i, err)
					}
					b[i] ^= bit
				}
			}
		})
	}
}

func TestDecodeRandomCorruption(t *testing.T) {
	t.Parallel()
	for kind, stream := range sampleEncodings(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			rng := rand.New(rand.NewPCG(uint64(len(kind)), uint64(len(stream))))
			for range 3000 {
				b := slices.Clone(stream)
				for range 1 + rng.IntN(4) {
					i := rng.IntN(len(b))
					switch rng.IntN(3) {
					case 0:
						b[i] = byte(rng.IntN(256))
					case 1:
						b[i] = 0xff
					default:
						b[i] = 0
					}
				}
				if err := decoders[kind](b, mem); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
					t.Fatalf("error %v is neither ErrCorrupt nor ErrUnknownSchema", err)
				}
			}
		})
	}
}

// TestDecodeHugeLengths overwrites each aligned word with a huge value.
// Before messages.go checked the flatbuffer metadata, arrow-go sized a slice
// by such a vector length and the process died with "out of memory", which
// no recover catches.
func TestDecodeHugeLengths(t *testing.T) {
	t.Parallel()
	for kind, stream := range sampleEncodings(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			b := slices.Clone(stream)
			for i := 0; i+4 <= len(b); i += 4 {
				for _, v := range []uint32{0x7fff_fff0, 0xffff_fff0} {
					old := binary.LittleEndian.Uint32(b[i:])
					binary.LittleEndian.PutUint32(b[i:], v)
					if err := decoders[kind](b, mem); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
						t.Errorf("word %d = %#x: error %v is neither ErrCorrupt nor ErrUnknownSchema", i, v, err)
					}
					binary.LittleEndian.PutUint32(b[i:], old)
				}
			}
		})
	}
}

// TestDecodeRefusesUnusedFeatures checks that streams using IPC features
// this package never writes are refused before arrow-go parses them.
func TestDecodeRefusesUnusedFeatures(t *testing.T) {
	t.Parallel()
	f := Factors{K: 2, Data: []float32{1, 2, 3, 4}}
	schema := factorsArrowSchema(2, metadata(factorsSchema, "start", "0", "k", "2"))

	var lz4 bytes.Buffer
	col := fixedSizeListArray(arrow.PrimitiveTypes.Float32, f.K, f.Data)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
	w := ipc.NewWriter(&lz4, ipc.WithSchema(schema), ipc.WithLZ4())
	if err := errors.Join(w.Write(rec), w.Close()); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	col.Release()

	db := array.NewDictionaryBuilder(memory.NewGoAllocator(), &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	if err := db.AppendString("a"); err != nil {
		t.Fatal(err)
	}
	dict := db.NewArray()
	db.Release()
	dictStream := writeRaw(t, metadata(stringsSchema, "kind", "users"),
		[]arrow.Field{{Name: "value", Type: dict.DataType()}}, []arrow.Array{dict}, 1)

	tests := []struct {
		name   string
		kind   string
		stream []byte
		want   string
	}{
		{"lz4 compressed body", "factors", lz4.Bytes(), "compressed record batches are not supported"},
		{"dictionary-encoded column", "strings", dictStream, "dictionary-encoded fields are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := decoders[tt.kind](tt.stream, checkedAlloc(t))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrCorrupt mentioning %q", err, tt.want)
			}
		})
	}
}

type failingReader struct {
	r   io.Reader
	n   int // bytes to pass before failing
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestDecodeReadError(t *testing.T) {
	t.Parallel()
	stream := sampleEncodings(t)["factors"]
	errNet := errors.New("connection reset")
	for _, n := range []int{0, 5, len(stream) / 2, len(stream) - 9} {
		_, err := decodeFactors(&failingReader{r: bytes.NewReader(stream), n: n, err: errNet}, checkedAlloc(t))
		if !errors.Is(err, errNet) || errors.Is(err, ErrCorrupt) {
			t.Errorf("fail after %d bytes: got %v, want the reader's error and not ErrCorrupt", n, err)
		}
	}
}

func TestEncodeWriteError(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk full")
	w := &failingWriter{n: 100, err: errDisk}
	err := encodeFactors(w, checkedAlloc(t), Factors{K: 10, Data: make([]float32, 1000)})
	if !errors.Is(err, errDisk) {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

type failingWriter struct {
	n   int
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

func TestEncodeDeterministic(t *testing.T) {
	t.Parallel()
	a := sampleEncodings(t)
	b := sampleEncodings(t)
	for kind := range a {
		if !bytes.Equal(a[kind], b[kind]) {
			t.Errorf("%s: two encodings of the same block differ", kind)
		}
	}
	// Decoding and encoding again gives the same bytes.
	v, err := DecodeFactors(bytes.NewReader(a["factors"]))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	var again bytes.Buffer
	if err := EncodeFactors(&again, v.Factors); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), a["factors"]) {
		t.Error("factors: re-encoding a decoded block changed its bytes")
	}
}

func TestReleaseTwice(t *testing.T) {
	t.Parallel()
	mem := checkedAlloc(t)
	v, err := decodeFactors(bytes.NewReader(sampleEncodings(t)["factors"]), mem)
	if err != nil {
		t.Fatal(err)
	}
	v.Release()
	v.Release()
	if v.Data != nil {
		t.Error("Release left Data pointing at freed memory")
	}
	var nilView *FactorsView
	nilView.Release()
}
