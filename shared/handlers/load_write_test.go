package handlers

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
)

// benchBlock is a catalogue of n books with strings of the real
// catalogue's lengths and a full top-k block of its first rows rows.
func benchBlock(n, rows, top int) (blocks.Catalog, blocks.TopK) {
	var c blocks.Catalog
	for i := range n {
		isbn := fmt.Sprintf("%010d", 195153448+i*7919)
		c.Index = append(c.Index, int32(i))
		c.ISBN = append(c.ISBN, isbn)
		c.Title = append(c.Title, fmt.Sprintf("The Hidden Garden of Søren's \"Lost\" Harbor, Vol. %d", i))
		c.Author = append(c.Author, "María Taylor-Brown")
		c.Publisher = append(c.Publisher, "Oxford University Press")
		c.ImageSmall = append(c.ImageSmall, "http://images.amazon.com/images/P/"+isbn+".01.THUMBZZZ.jpg")
		c.ImageMedium = append(c.ImageMedium, "http://images.amazon.com/images/P/"+isbn+".01.MZZZZZZZ.jpg")
		c.Year = append(c.Year, int32(1950+i%70))
	}
	tk := blocks.TopK{Top: top}
	for r := range rows {
		for j := range top {
			tk.Index = append(tk.Index, int32((r+1+j*31)%n))
			tk.Score = append(tk.Score, 0.9/float32(j+1+r%5))
		}
	}
	return c, tk
}

// discardAPI accepts every BatchWriteItem and keeps nothing.
type discardAPI struct{ dynamo.API }

func (discardAPI) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// BenchmarkLoadBlock measures what a load task does with one block once
// it has the catalogue and the top-k block: Items, then the target's
// WritePart (part files with fsync; DynamoDB through a client that
// discards, so without the SDK's serialisation). ns/item and B/item count
// the block's books and similarity rows (4096 × 21).
func BenchmarkLoadBlock(b *testing.B) {
	cat, tk := benchBlock(20000, 4096, 20)
	for _, tc := range []struct {
		name   string
		target func(b *testing.B) dynamo.Target
	}{
		{"files", func(b *testing.B) dynamo.Target {
			return dynamo.NewFileTarget(b.TempDir(), dynamo.TablesWithPrefix(""))
		}},
		{"dynamodb", func(*testing.B) dynamo.Target {
			return dynamo.NewDynamoTarget(discardAPI{}, dynamo.TablesWithPrefix(""), dynamo.WriterOptions{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tg := tc.target(b)
			var items int
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				books, sims, err := Items(cat, tk)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tg.WritePart(b.Context(), "run1", 0, books, sims); err != nil {
					b.Fatal(err)
				}
				items = len(books) + len(sims)
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), "ns/item")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(items), "B/item")
		})
	}
}
