package blocks

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenBlocks are the small blocks stored in testdata/*.arrow. Decoding the
// stored bytes pins the v1 wire format: a reader change that stops reading
// old blocks, or an encoder change that alters them, fails here.
var goldenBlocks = []struct {
	file   string
	encode func(io.Writer) error
	check  func(t *testing.T, b []byte)
}{
	{
		file:   "factors_v1.arrow",
		encode: func(w io.Writer) error { return EncodeFactors(w, goldenFactors) },
		check: func(t *testing.T, b []byte) {
			v, err := DecodeFactors(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Release()
			if v.Start != goldenFactors.Start || v.K != goldenFactors.K || !slices.Equal(v.Data, goldenFactors.Data) {
				t.Errorf("got %+v, want %+v", v.Factors, goldenFactors)
			}
		},
	},
	{
		file:   "ratings_v1.arrow",
		encode: func(w io.Writer) error { return EncodeRatings(w, goldenRatings) },
		check: func(t *testing.T, b []byte) {
			v, err := DecodeRatings(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Release()
			if v.Start != goldenRatings.Start || !slices.Equal(v.RowPtr, goldenRatings.RowPtr) ||
				!slices.Equal(v.Col, goldenRatings.Col) || !slices.Equal(v.Val, goldenRatings.Val) {
				t.Errorf("got %+v, want %+v", v.Ratings, goldenRatings)
			}
		},
	},
	{
		file:   "topk_v1.arrow",
		encode: func(w io.Writer) error { return EncodeTopK(w, goldenTopK) },
		check: func(t *testing.T, b []byte) {
			v, err := DecodeTopK(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Release()
			if v.Start != goldenTopK.Start || v.Top != goldenTopK.Top ||
				!slices.Equal(v.Index, goldenTopK.Index) || !slices.Equal(v.Score, goldenTopK.Score) {
				t.Errorf("got %+v, want %+v", v.TopK, goldenTopK)
			}
		},
	},
	{
		file:   "strings_v1.arrow",
		encode: func(w io.Writer) error { return EncodeStrings(w, "books", goldenStrings) },
		check: func(t *testing.T, b []byte) {
			s, err := DecodeStrings(bytes.NewReader(b), "books")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s, goldenStrings) {
				t.Errorf("got %q, want %q", s, goldenStrings)
			}
		},
	},
	{
		file:   "catalog_v1.arrow",
		encode: func(w io.Writer) error { return EncodeCatalog(w, sampleCatalog()) },
		check: func(t *testing.T, b []byte) {
			c, err := DecodeCatalog(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			want := sampleCatalog()
			if !slices.Equal(c.ISBN, want.ISBN) || !slices.Equal(c.Title, want.Title) || !slices.Equal(c.Year, want.Year) {
				t.Errorf("got %+v, want %+v", c, want)
			}
		},
	},
}

var (
	goldenFactors = Factors{Start: 10, K: 3, Data: []float32{0.5, -1, 2, 0, 0, 0}}
	goldenRatings = Ratings{Start: 4, RowPtr: []int32{0, 2, 2, 3}, Col: []int32{1, 7, 3}, Val: []float32{8, 5, 10}}
	goldenTopK    = TopK{Start: 2, Top: 3, Index: []int32{5, 1, -1, 0, -1, -1}, Score: []float32{0.9, 0.25, 0, 0.5, 0, 0}}
	goldenStrings = []string{"0195153448", "0002005018", "Ünïcode"}
)

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, g := range goldenBlocks {
		t.Run(g.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", g.file)
			var buf bytes.Buffer
			if err := g.encode(&buf); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("encoding differs from %s; if the format change is intended, bump the schema version", path)
			}
			g.check(t, want)
		})
	}
}
