package dynamo

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/betterread/pipeline/internal/testenv"
)

// BenchmarkBatchWriter measures BatchWriteItem throughput against
// DynamoDB Local: each iteration puts one part of 500 Books items.
// writers is WriterOptions.Concurrency; rate is the items/s limit (0:
// none). The figure to read is items/s.
func BenchmarkBatchWriter(b *testing.B) {
	srv := testenv.StartDynamoDB(b)
	client := newLocalClient(b, srv)
	tables := TablesWithPrefix("bench-")
	if err := NewDynamoTarget(client, tables, WriterOptions{}).Ensure(b.Context()); err != nil {
		b.Fatal(err)
	}
	books, _ := genRun(isbnRange("b", 0, 500), 0)
	items := bookItems("bench", books)
	for range 5 { // warm the JVM up so the first case is not measured cold
		if _, err := NewBatchWriter(client, WriterOptions{}).Put(b.Context(), tables.Books, items); err != nil {
			b.Fatal(err)
		}
	}
	for _, writers := range []int{1, 2, 4} {
		for _, limit := range []float64{0, 1000} {
			b.Run(fmt.Sprintf("writers=%d/rate=%g", writers, limit), func(b *testing.B) {
				w := NewBatchWriter(client, WriterOptions{Concurrency: writers, Rate: limit})
				b.ReportAllocs()
				var n int64
				for b.Loop() {
					st, err := w.Put(b.Context(), tables.Books, items)
					if err != nil {
						b.Fatal(err)
					}
					n += st.Items
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}

// benchRun is a run of n books with top neighbours each, with strings of
// the real catalogue's lengths (Book-Crossing titles, authors, Amazon
// image URLs), a quote and a few non-ASCII letters.
func benchRun(n, top int) ([]Book, []Similarity) {
	books := make([]Book, n)
	for i := range books {
		isbn := fmt.Sprintf("%010d", 195153448+i*7919)
		books[i] = Book{ISBN: isbn, Title: fmt.Sprintf("The Hidden Garden of Søren's \"Lost\" Harbor, Vol. %d", i),
			Author: "María Taylor-Brown", Year: 1950 + i%70, Publisher: "Oxford University Press",
			ImageSmall:  "http://images.amazon.com/images/P/" + isbn + ".01.THUMBZZZ.jpg",
			ImageMedium: "http://images.amazon.com/images/P/" + isbn + ".01.MZZZZZZZ.jpg"}
	}
	var sims []Similarity
	for i, b := range books {
		for r := 1; r <= top; r++ {
			nb := books[(i+r*31)%n]
			sims = append(sims, Similarity{ISBN: b.ISBN, Rank: r, Title: b.Title, Author: b.Author,
				SimilarISBN: nb.ISBN, SimilarTitle: nb.Title, SimilarAuthor: nb.Author, Score: 0.9 / float32(r+i%5)})
		}
	}
	return books, sims
}

// BenchmarkItemEncoding measures one item (one op) going from its row to
// what a target sends: a DynamoDB JSON line for the file target, attribute
// values for the DynamoDB target. oracle is the path the targets took
// before (an item map per row, then encoding/json over a map[string]any
// tree for the line); direct is the current one (appendBookJSON into a
// reused buffer; bookAttrs refilled). ns/op and B/op are per item.
func BenchmarkItemEncoding(b *testing.B) {
	books, sims := benchRun(1000, 20)
	const run = "20260123T101500Z-ab12"
	b.Run("json/book/oracle", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := marshalItemJSON(oracleBookItem(run, books[i%len(books)])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("json/book/direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		i := 0
		for b.Loop() {
			buf = appendBookJSON(buf[:0], run, books[i%len(books)])
			i++
		}
	})
	b.Run("json/similarity/oracle", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := marshalItemJSON(oracleSimilarityItem(run, sims[i%len(sims)])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("json/similarity/direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		i := 0
		for b.Loop() {
			buf = appendSimilarityJSON(buf[:0], run, sims[i%len(sims)])
			i++
		}
	})
	b.Run("attrs/book/oracle", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			benchSink = oracleBookItem(run, books[i%len(books)])
			i++
		}
	})
	b.Run("attrs/book/direct", func(b *testing.B) {
		b.ReportAllocs()
		a := newBookAttrs()
		i := 0
		for b.Loop() {
			a.set(run, books[i%len(books)])
			i++
		}
	})
	b.Run("attrs/similarity/oracle", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			benchSink = oracleSimilarityItem(run, sims[i%len(sims)])
			i++
		}
	})
	b.Run("attrs/similarity/direct", func(b *testing.B) {
		b.ReportAllocs()
		a := newSimAttrs()
		i := 0
		for b.Loop() {
			a.set(run, sims[i%len(sims)])
			i++
		}
	})
}

var benchSink map[string]types.AttributeValue

// discardAPI accepts every BatchWriteItem and keeps nothing, so a
// WritePart benchmark measures the target, not a store.
type discardAPI struct{ API }

func (discardAPI) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// BenchmarkWritePart measures a whole WritePart of 1000 books and their
// 20 000 similarity rows, validation included: to part files (fsync
// included), and to DynamoDB through a client that discards (the SDK's
// own serialisation excluded). ns/item and B/item count books and rows.
func BenchmarkWritePart(b *testing.B) {
	books, sims := benchRun(1000, 20)
	items := float64(len(books) + len(sims))
	for _, tc := range []struct {
		name   string
		target func(b *testing.B) Target
	}{
		{"files", func(b *testing.B) Target { return NewFileTarget(b.TempDir(), TablesWithPrefix("")) }},
		{"dynamodb", func(*testing.B) Target {
			return NewDynamoTarget(discardAPI{}, TablesWithPrefix(""), WriterOptions{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tg := tc.target(b)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if _, err := tg.WritePart(b.Context(), "run1", 0, books, sims); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/item")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/items, "B/item")
		})
	}
}

// BenchmarkFileVerify verifies a committed run of 5000 books and 100 000
// similarity rows with the default 100-book sample. ns/row and B/row
// count the rows of both tables.
func BenchmarkFileVerify(b *testing.B) {
	books, sims := benchRun(5000, 20)
	tg := NewFileTarget(b.TempDir(), TablesWithPrefix(""))
	if _, err := tg.WritePart(b.Context(), "run1", 0, books, sims); err != nil {
		b.Fatal(err)
	}
	wrote := Counts{Books: int64(len(books)), Similarities: int64(len(sims))}
	if _, err := tg.Commit(b.Context(), "run1", wrote); err != nil {
		b.Fatal(err)
	}
	rows := float64(len(books) + len(sims))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		s, err := tg.Verify(b.Context(), "run1", wrote, VerifyOptions{MinBooks: 1, MinSimilarities: 1, Seed: 1})
		if err != nil || !s.Verified {
			b.Fatalf("%v %s", err, s.Message)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/rows, "B/row")
}

// BenchmarkLineKeys measures reading run_id and isbn from one line the
// file target wrote (one op), as Verify does for every row.
func BenchmarkLineKeys(b *testing.B) {
	books, sims := benchRun(100, 20)
	lines := make([][]byte, 0, len(books)+len(sims))
	for _, s := range sims {
		lines = append(lines, appendSimilarityJSON(nil, "run1", s))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := lineKeys(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
