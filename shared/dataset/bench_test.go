package dataset

import (
	"bytes"
	"io"
	"testing"
)

// defaultFiles generates the default-shape files; b.Loop times only what
// follows.
func defaultFiles(b *testing.B) (books, ratings []byte) {
	var bb, rb bytes.Buffer
	if _, err := Generate(b.Context(), DefaultGenParams(), &bb, &rb); err != nil {
		b.Fatal(err)
	}
	return bb.Bytes(), rb.Bytes()
}

// BenchmarkReadRatings reads the 1,149,780 rows of a default-shape
// Ratings.csv (about 21 MB).
func BenchmarkReadRatings(b *testing.B) {
	_, data := defaultFiles(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		rep, err := ReadRatings(b.Context(), bytes.NewReader(data), "Ratings.csv", func(Rating) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rows += rep.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadBooks reads the 271,360 rows of a default-shape Books.csv
// (about 60 MB).
func BenchmarkReadBooks(b *testing.B) {
	data, _ := defaultFiles(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		rep, err := ReadBooks(b.Context(), bytes.NewReader(data), "Books.csv", func(Book) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rows += rep.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGenerate writes the default shape (both files) to io.Discard.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(b.Context(), DefaultGenParams(), io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
