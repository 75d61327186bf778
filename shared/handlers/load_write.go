package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/tasks"
)

// LoadWrite writes the Books and BookSimilarities items of one block of the
// catalogue to the run's target and records what it wrote.
type LoadWrite struct{ *Deps }

func (d *Deps) catalog(ctx context.Context, plan tasks.Plan) (blocks.Catalog, error) {
	run := plan.Run
	v, err := d.Cache.Get(ctx, runstore.RunKeys(run).Catalog(), func(ctx context.Context) (any, int64, error) {
		c, n, err := runstore.Open(d.Store, run).Catalog(ctx)
		d.fetched(ctx, run, n)
		return c, n * 2, err
	})
	if err != nil {
		return blocks.Catalog{}, d.redo(ctx, plan, err)
	}
	return v.(blocks.Catalog), nil
}

// ProcessTask implements asynq.Handler.
func (h LoadWrite) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseLoadWrite(t.Payload())
	if err != nil {
		return err
	}
	h.started(ctx, p.Run, "load")
	plan, err := h.planOf(ctx, p.Run, p.Gen)
	if err != nil {
		return err
	}
	l, err := h.catalogLayout(ctx, p.Run)
	if err != nil {
		return err
	}
	if p.Block >= l.Blocks(l.Catalog) {
		return fmt.Errorf("load block %d of run %s beyond the catalogue's %d: %w", p.Block, p.Run, l.Blocks(l.Catalog), asynq.SkipRetry)
	}
	cat, err := h.catalog(ctx, plan)
	if err != nil {
		return err
	}
	rs := runstore.Open(h.Store, p.Run)
	tk, n, err := rs.TopK(ctx, p.Block)
	h.fetched(ctx, p.Run, n)
	if err != nil {
		return h.redo(ctx, plan, err)
	}
	books, sims, err := Items(cat, tk)
	if err != nil {
		return fmt.Errorf("items of block %d of run %s: %w: %w", p.Block, p.Run, err, asynq.SkipRetry)
	}
	target, err := h.Targets(ctx, p.Run, plan.Target)
	if err != nil {
		return fmt.Errorf("open %s target of run %s: %w", plan.Target.Kind, p.Run, err)
	}
	stats, err := target.WritePart(ctx, p.Run, p.Block, books, sims)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("write block %d of run %s: %w", p.Block, p.Run, err)
	}
	h.count(ctx, p.Run, "items_written", stats.Items)
	h.count(ctx, p.Run, "write_retries", stats.UnprocessedRetries+stats.Throttles)
	return rs.PutLoadResult(ctx, runstore.LoadResult{Block: p.Block, Books: int64(len(books)), Similarities: int64(len(sims)), Stats: stats})
}

// Items turns one top-k block into table rows: a Books row per catalogue
// book of the block and a BookSimilarities row per neighbour, ranked 1..n.
func Items(cat blocks.Catalog, tk blocks.TopK) ([]dynamo.Book, []dynamo.Similarity, error) {
	n := len(cat.ISBN)
	if tk.Top <= 0 || len(tk.Index)%tk.Top != 0 || len(tk.Score) != len(tk.Index) {
		return nil, nil, fmt.Errorf("top-k block of %d entries is not rows × %d", len(tk.Index), tk.Top)
	}
	rows := len(tk.Index) / tk.Top
	if tk.Start < 0 || tk.Start+rows > n {
		return nil, nil, fmt.Errorf("top-k rows %d+%d outside the catalogue of %d", tk.Start, rows, n)
	}
	books := make([]dynamo.Book, 0, rows)
	sims := make([]dynamo.Similarity, 0, rows*tk.Top)
	for r := range rows {
		i := tk.Start + r
		b := dynamo.Book{
			ISBN: cat.ISBN[i], Title: cat.Title[i], Author: cat.Author[i], Year: int(cat.Year[i]),
			Publisher: cat.Publisher[i], ImageSmall: cat.ImageSmall[i], ImageMedium: cat.ImageMedium[i],
		}
		books = append(books, b)
		for j := range tk.Top {
			nb := tk.Index[r*tk.Top+j]
			if nb < 0 {
				break
			}
			if int(nb) >= n {
				return nil, nil, fmt.Errorf("neighbour %d of row %d outside the catalogue of %d", nb, i, n)
			}
			sims = append(sims, dynamo.Similarity{
				ISBN: b.ISBN, Rank: j + 1, Title: b.Title, Author: b.Author,
				SimilarISBN: cat.ISBN[nb], SimilarTitle: cat.Title[nb], SimilarAuthor: cat.Author[nb],
				Score: tk.Score[r*tk.Top+j],
			})
		}
	}
	return books, sims, nil
}
