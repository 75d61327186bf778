package blocks

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// 100k rows × rank 10: a factor block the size the ALS stage moves around.
func benchFactors() Factors { return randFactors(rand.New(rand.NewPCG(9, 9)), 0, 100_000, 10) }

func BenchmarkEncodeFactors(b *testing.B) {
	f := benchFactors()
	var buf bytes.Buffer
	if err := EncodeFactors(&buf, f); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := EncodeFactors(&buf, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFactors(b *testing.B) {
	var buf bytes.Buffer
	if err := EncodeFactors(&buf, benchFactors()); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := DecodeFactors(bytes.NewReader(stream))
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}

// About a million ratings over 20k rows, the size of Book-Crossing's
// explicit ratings.
func benchRatings() Ratings { return randRatings(rand.New(rand.NewPCG(8, 8)), 0, 20_000, 100, 50) }

func BenchmarkEncodeRatings(b *testing.B) {
	r := benchRatings()
	var buf bytes.Buffer
	if err := EncodeRatings(&buf, r); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := EncodeRatings(&buf, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRatings(b *testing.B) {
	var buf bytes.Buffer
	if err := EncodeRatings(&buf, benchRatings()); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := DecodeRatings(bytes.NewReader(stream))
		if err != nil {
			b.Fatal(err)
		}
		v.Release()
	}
}
