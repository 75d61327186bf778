package dynamo

import (
	"fmt"
	"testing"

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
