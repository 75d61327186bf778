package blocks

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func TestFactorsRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name string
		f    Factors
	}{
		{"empty block", Factors{Start: 0, K: 10}},
		{"one row", Factors{Start: 41, K: 3, Data: []float32{1, -2.5, 0}}},
		{"k=1", randFactors(rng, 5, 17, 1)},
		{"zero row among others", Factors{Start: 2, K: 2, Data: []float32{1, 2, 0, 0, 3, 4}}},
		{"special values", Factors{K: 4, Data: []float32{float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -0}}},
		{"k=10 many rows", randFactors(rng, 100_000, 5000, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			var buf bytes.Buffer
			if err := encodeFactors(&buf, mem, tt.f); err != nil {
				t.Fatalf("encode: %v", err)
			}
			v, err := decodeFactors(&buf, mem)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			defer v.Release()
			if v.Start != tt.f.Start || v.K != tt.f.K || !slices.Equal(v.Data, tt.f.Data) {
				t.Errorf("got start %d k %d %d values, want start %d k %d %d values (or values differ)",
					v.Start, v.K, len(v.Data), tt.f.Start, tt.f.K, len(tt.f.Data))
			}
		})
	}
}

func TestRatingsRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name string
		r    Ratings
	}{
		{"empty block", Ratings{RowPtr: []int32{0}}},
		{"one row", Ratings{Start: 9, RowPtr: []int32{0, 2}, Col: []int32{3, 8}, Val: []float32{7, 10}}},
		{"rows without ratings", Ratings{Start: 1, RowPtr: []int32{0, 0, 1, 1, 1}, Col: []int32{0}, Val: []float32{5}}},
		{"only empty rows", Ratings{RowPtr: []int32{0, 0, 0}}},
		{"many rows", randRatings(rng, 1000, 3000, 30, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			var buf bytes.Buffer
			if err := encodeRatings(&buf, mem, tt.r); err != nil {
				t.Fatalf("encode: %v", err)
			}
			v, err := decodeRatings(&buf, mem)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			defer v.Release()
			if v.Start != tt.r.Start || !slices.Equal(v.RowPtr, tt.r.RowPtr) ||
				!slices.Equal(v.Col, tt.r.Col) || !slices.Equal(v.Val, tt.r.Val) {
				t.Errorf("got %+v, want %+v", v.Ratings, tt.r)
			}
		})
	}
}

func TestTopKRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name string
		t    TopK
	}{
		{"empty block", TopK{Start: 0, Top: 20}},
		{"one row padded", TopK{Start: 3, Top: 4, Index: []int32{8, 2, -1, -1}, Score: []float32{0.9, 0.5, 0, 0}}},
		{"no neighbours", TopK{Top: 2, Index: []int32{-1, -1}, Score: []float32{0, 0}}},
		{"top=20 many rows", randTopK(rng, 500, 2000, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			var buf bytes.Buffer
			if err := encodeTopK(&buf, mem, tt.t); err != nil {
				t.Fatalf("encode: %v", err)
			}
			v, err := decodeTopK(&buf, mem)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			defer v.Release()
			if v.Start != tt.t.Start || v.Top != tt.t.Top || !slices.Equal(v.Index, tt.t.Index) || !slices.Equal(v.Score, tt.t.Score) {
				t.Errorf("got start %d top %d, want start %d top %d (or values differ)", v.Start, v.Top, tt.t.Start, tt.t.Top)
			}
		})
	}
}

func TestStringsRoundTrip(t *testing.T) {
	t.Parallel()
	many := make([]string, 10_000)
	for i := range many {
		many[i] = strings.Repeat("x", i%13) + string(rune('a'+i%26))
	}
	tests := []struct {
		name string
		kind string
		s    []string
	}{
		{"empty block", "users", nil},
		{"one value", "users", []string{"276725"}},
		{"empty strings", "books", []string{"", "a", ""}},
		{"unicode", "books", []string{"Ünïcode", "日本語", "emoji 📚"}},
		{"many values", "books", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			var buf bytes.Buffer
			if err := encodeStrings(&buf, mem, tt.kind, tt.s); err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decodeStrings(&buf, mem, tt.kind)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !slices.Equal(got, tt.s) {
				t.Errorf("got %d strings, want %d (or values differ)", len(got), len(tt.s))
			}
		})
	}
}

func TestStringsWrongKind(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := EncodeStrings(&buf, "users", []string{"1"}); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeStrings(&buf, "books")
	if err == nil || !strings.Contains(err.Error(), `kind is "users", want "books"`) {
		t.Fatalf("got %v, want an error naming both kinds", err)
	}
}

func TestCatalogRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Catalog
	}{
		{"empty block", Catalog{}},
		{"two books", sampleCatalog()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := checkedAlloc(t)
			var buf bytes.Buffer
			if err := encodeCatalog(&buf, mem, tt.c); err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decodeCatalog(&buf, mem)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			for i, col := range got.stringColumns() {
				if want := *tt.c.stringColumns()[i]; !slices.Equal(*col, want) {
					t.Errorf("%s: got %q, want %q", catalogStrings[i], *col, want)
				}
			}
			if !slices.Equal(got.Index, tt.c.Index) || !slices.Equal(got.Year, tt.c.Year) {
				t.Errorf("index/year: got %v/%v, want %v/%v", got.Index, got.Year, tt.c.Index, tt.c.Year)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	nan := float32(math.NaN())
	bad := sampleCatalog()
	bad.Title = bad.Title[:1]
	tests := []struct {
		name   string
		encode func(*bytes.Buffer) error
		want   string
	}{
		{"factors k=0", func(w *bytes.Buffer) error { return EncodeFactors(w, Factors{K: 0}) }, "k 0 is out of range"},
		{"factors partial row", func(w *bytes.Buffer) error { return EncodeFactors(w, Factors{K: 3, Data: make([]float32, 4)}) }, "4 values are not a whole number of rows of k=3"},
		{"factors negative start", func(w *bytes.Buffer) error { return EncodeFactors(w, Factors{Start: -1, K: 1}) }, "start -1 is negative"},
		{"ratings no row_ptr", func(w *bytes.Buffer) error { return EncodeRatings(w, Ratings{}) }, "row_ptr is empty"},
		{"ratings row_ptr[0]", func(w *bytes.Buffer) error {
			return EncodeRatings(w, Ratings{RowPtr: []int32{1, 1}, Col: []int32{0}, Val: []float32{1}})
		}, "row_ptr[0] is 1"},
		{"ratings decreasing", func(w *bytes.Buffer) error {
			return EncodeRatings(w, Ratings{RowPtr: []int32{0, 2, 1, 2}, Col: []int32{0, 1}, Val: []float32{1, 2}})
		}, "row_ptr[2]=1 is below row_ptr[1]=2"},
		{"ratings short col", func(w *bytes.Buffer) error {
			return EncodeRatings(w, Ratings{RowPtr: []int32{0, 2}, Col: []int32{0}, Val: []float32{1, 2}})
		}, "row_ptr ends at 2 but there are 1 cols and 2 vals"},
		{"ratings negative col", func(w *bytes.Buffer) error {
			return EncodeRatings(w, Ratings{RowPtr: []int32{0, 1}, Col: []int32{-3}, Val: []float32{1}})
		}, "col[0] is -3"},
		{"topk top=0", func(w *bytes.Buffer) error { return EncodeTopK(w, TopK{}) }, "top 0 is out of range"},
		{"topk lengths", func(w *bytes.Buffer) error {
			return EncodeTopK(w, TopK{Top: 1, Index: []int32{1, 2}, Score: []float32{1}})
		}, "2 indices but 1 scores"},
		{"topk index -2", func(w *bytes.Buffer) error {
			return EncodeTopK(w, TopK{Top: 1, Index: []int32{-2}, Score: []float32{0}})
		}, "index[0] is -2"},
		{"topk NaN", func(w *bytes.Buffer) error {
			return EncodeTopK(w, TopK{Top: 2, Index: []int32{1, 2}, Score: []float32{1, nan}})
		}, "score[1] is NaN"},
		{"strings no kind", func(w *bytes.Buffer) error { return EncodeStrings(w, "", nil) }, "kind is empty"},
		{"strings bad utf8", func(w *bytes.Buffer) error { return EncodeStrings(w, "books", []string{"ok", "\xe9t\xe9"}) }, "value[1] is not valid UTF-8"},
		{"catalog lengths", func(w *bytes.Buffer) error { return EncodeCatalog(w, bad) }, "title has 1 values, index has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := tt.encode(&buf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before refusing", buf.Len())
			}
		})
	}
}

// TestDecodeFactorsIsView checks that decoded factors point into the
// record's Arrow buffer rather than a copy.
func TestDecodeFactorsIsView(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := EncodeFactors(&buf, Factors{K: 2, Data: []float32{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	v, err := decodeFactors(&buf, checkedAlloc(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	arrow := v.v.rec.Column(0).Data().Children()[0].Buffers()[1].Bytes()
	if unsafe.Pointer(unsafe.SliceData(v.Data)) != unsafe.Pointer(unsafe.SliceData(arrow)) {
		t.Error("Data is a copy, want a view into the Arrow buffer")
	}
}
