package blocks

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fuzzSeeds adds valid encodings, and a truncated one, as seeds.
func fuzzSeeds(f *testing.F, encode ...func(w io.Writer) error) {
	f.Helper()
	for _, enc := range encode {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()/2])
	}
}

// checkDecodeError fails unless err carries one of the package's sentinels:
// decoding bytes must never fail for any other reason.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("error %v is neither ErrCorrupt nor ErrUnknownSchema", err)
	}
}

func FuzzDecodeFactors(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	fuzzSeeds(f,
		func(w io.Writer) error { return EncodeFactors(w, Factors{K: 10}) },
		func(w io.Writer) error { return EncodeFactors(w, randFactors(rng, 3, 1, 2)) },
		func(w io.Writer) error { return EncodeFactors(w, randFactors(rng, 100, 8, 10)) },
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		v, err := decodeFactors(bytes.NewReader(b), mem)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		defer v.Release()
		if err := v.Factors.validate(); err != nil {
			t.Fatalf("decoded an invalid block: %v", err)
		}
		// What decodes re-encodes, and decodes to the same block.
		var again bytes.Buffer
		if err := encodeFactors(&again, mem, v.Factors); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w, err := decodeFactors(&again, mem)
		if err != nil {
			t.Fatalf("decode re-encoded block: %v", err)
		}
		defer w.Release()
		if w.Start != v.Start || w.K != v.K || !slices.Equal(w.Data, v.Data) && !hasNaN(v.Data) {
			t.Fatal("re-encoded block decodes differently")
		}
	})
}

func hasNaN(s []float32) bool {
	for _, x := range s {
		if x != x {
			return true
		}
	}
	return false
}

func FuzzDecodeRatings(f *testing.F) {
	rng := rand.New(rand.NewPCG(2, 2))
	fuzzSeeds(f,
		func(w io.Writer) error { return EncodeRatings(w, Ratings{RowPtr: []int32{0}}) },
		func(w io.Writer) error {
			return EncodeRatings(w, Ratings{Start: 4, RowPtr: []int32{0, 0, 2}, Col: []int32{1, 5}, Val: []float32{3, 8}})
		},
		func(w io.Writer) error { return EncodeRatings(w, randRatings(rng, 10, 8, 5, 20)) },
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		v, err := decodeRatings(bytes.NewReader(b), mem)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		defer v.Release()
		if err := v.Ratings.validate(); err != nil {
			t.Fatalf("decoded an invalid block: %v", err)
		}
		var again bytes.Buffer
		if err := encodeRatings(&again, mem, v.Ratings); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w, err := decodeRatings(&again, mem)
		if err != nil {
			t.Fatalf("decode re-encoded block: %v", err)
		}
		defer w.Release()
		if w.Start != v.Start || !slices.Equal(w.RowPtr, v.RowPtr) || !slices.Equal(w.Col, v.Col) ||
			!slices.Equal(w.Val, v.Val) && !hasNaN(v.Val) {
			t.Fatal("re-encoded block decodes differently")
		}
	})
}

func FuzzDecodeTopK(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 3))
	fuzzSeeds(f,
		func(w io.Writer) error { return EncodeTopK(w, TopK{Top: 20}) },
		func(w io.Writer) error {
			return EncodeTopK(w, TopK{Start: 2, Top: 3, Index: []int32{4, -1, -1}, Score: []float32{0.5, 0, 0}})
		},
		func(w io.Writer) error { return EncodeTopK(w, randTopK(rng, 50, 6, 4)) },
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		v, err := decodeTopK(bytes.NewReader(b), mem)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		defer v.Release()
		if err := v.TopK.validate(); err != nil {
			t.Fatalf("decoded an invalid block: %v", err)
		}
		var again bytes.Buffer
		if err := encodeTopK(&again, mem, v.TopK); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w, err := decodeTopK(&again, mem)
		if err != nil {
			t.Fatalf("decode re-encoded block: %v", err)
		}
		defer w.Release()
		if w.Start != v.Start || w.Top != v.Top || !slices.Equal(w.Index, v.Index) || !slices.Equal(w.Score, v.Score) {
			t.Fatal("re-encoded block decodes differently")
		}
	})
}

func FuzzDecodeStrings(f *testing.F) {
	fuzzSeeds(f,
		func(w io.Writer) error { return EncodeStrings(w, "users", nil) },
		func(w io.Writer) error { return EncodeStrings(w, "users", []string{"276725", "", "日本"}) },
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		s, err := decodeStrings(bytes.NewReader(b), mem, "users")
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		var again bytes.Buffer
		if err := encodeStrings(&again, mem, "users", s); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func FuzzDecodeCatalog(f *testing.F) {
	fuzzSeeds(f,
		func(w io.Writer) error { return EncodeCatalog(w, Catalog{}) },
		func(w io.Writer) error { return EncodeCatalog(w, sampleCatalog()) },
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		c, err := decodeCatalog(bytes.NewReader(b), mem)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		var again bytes.Buffer
		if err := encodeCatalog(&again, mem, c); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
