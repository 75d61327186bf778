package dynamo

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// runReader is what Verify needs from a target: this run's rows, read
// back. Both targets implement it, so both are checked the same way.
// Verify calls scanBooks, then scanSimilarities with the sample, then
// missingBooks with the sample's neighbours, so a reader can read each
// table once (the file target does).
type runReader interface {
	// tableStatus reports whether table exists and can be read.
	tableStatus(ctx context.Context, table string) (ok bool, detail string, err error)
	// scanBooks counts the run's books and returns a sample of n of their
	// isbns chosen by seed (see sampler).
	scanBooks(ctx context.Context, runID string, n int, seed int64) (count int64, sample []string, err error)
	// scanSimilarities counts the run's similarity rows and returns the
	// rows of each isbn of sample, ascending by rank.
	scanSimilarities(ctx context.Context, runID string, sample []string) (count int64, rows map[string][]simRow, err error)
	// missingBooks returns those of isbns with no Books row of the run.
	missingBooks(ctx context.Context, runID string, isbns []string) ([]string, error)
}

func verify(ctx context.Context, r runReader, tables Tables, runID string, expected Counts, opts VerifyOptions) (Summary, error) {
	s := Summary{TableCounts: map[string]int64{}}
	if err := validateRunID(runID); err != nil {
		return s, fmt.Errorf("verify: %w", err)
	}
	if opts.Sample == 0 {
		opts.Sample = DefaultSample
	}
	for _, c := range []struct{ name, table string }{
		{CheckBooksTable, tables.Books},
		{CheckSimilaritiesTable, tables.Similarities},
	} {
		ok, detail, err := r.tableStatus(ctx, c.table)
		if err != nil {
			return s, fmt.Errorf("verify run %s: %w", runID, err)
		}
		s.AddCheck(c.name, ok, detail)
	}
	if !s.Verified {
		return s, nil // nothing more can be read
	}

	nBooks, sample, err := r.scanBooks(ctx, runID, max(opts.Sample, 0), opts.Seed)
	if err != nil {
		return s, fmt.Errorf("verify run %s: %w", runID, err)
	}
	nSims, rows, err := r.scanSimilarities(ctx, runID, sample)
	if err != nil {
		return s, fmt.Errorf("verify run %s: %w", runID, err)
	}
	s.TableCounts[tables.Books] = nBooks
	s.TableCounts[tables.Similarities] = nSims
	s.AddCheck(CheckBooksCount, nBooks == expected.Books,
		fmt.Sprintf("%s holds %d books of run %s, %d written", tables.Books, nBooks, runID, expected.Books))
	s.AddCheck(CheckSimilaritiesCount, nSims == expected.Similarities,
		fmt.Sprintf("%s holds %d rows of run %s, %d written", tables.Similarities, nSims, runID, expected.Similarities))
	s.AddCheck(CheckMinBooks, nBooks >= opts.MinBooks, fmt.Sprintf("%d books, minimum %d", nBooks, opts.MinBooks))
	s.AddCheck(CheckMinSimilarities, nSims >= opts.MinSimilarities,
		fmt.Sprintf("%d similarity rows, minimum %d", nSims, opts.MinSimilarities))
	if opts.Sample < 0 {
		return s, nil
	}
	if err := checkSample(ctx, r, &s, runID, sample, rows, opts.Seed); err != nil {
		return s, fmt.Errorf("verify run %s: %w", runID, err)
	}
	return s, nil
}

// checkSample adds the sample checks over the sampled books' similarity
// rows, reading back whether their neighbours are in Books.
func checkSample(ctx context.Context, r runReader, s *Summary, runID string, sample []string, rows map[string][]simRow, seed int64) error {
	var ranks, order, finite, self problems
	neighbors := map[string]struct{}{}
	total := 0
	for _, isbn := range sample {
		rs := rows[isbn]
		total += len(rs)
		for i, row := range rs {
			if row.rank != i+1 {
				ranks.add("isbn %q has ranks %s, want 1..%d", isbn, rankList(rs), len(rs))
				break
			}
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].score > rs[i-1].score {
				order.add("isbn %q rank %d score %g > rank %d score %g", isbn, rs[i].rank, rs[i].score, rs[i-1].rank, rs[i-1].score)
				break
			}
		}
		for _, row := range rs {
			if math.IsNaN(row.score) || math.IsInf(row.score, 0) {
				finite.add("isbn %q rank %d score %g", isbn, row.rank, row.score)
				break
			}
		}
		selfSeen := false
		for _, row := range rs {
			if row.similar != isbn {
				neighbors[row.similar] = struct{}{}
			} else if !selfSeen {
				self.add("isbn %q rank %d is the book itself", isbn, row.rank)
				selfSeen = true
			}
		}
	}
	want := make([]string, 0, len(neighbors))
	for n := range neighbors {
		want = append(want, n)
	}
	slices.Sort(want)
	missing, err := r.missingBooks(ctx, runID, want)
	if err != nil {
		return err
	}
	var absent problems
	for _, m := range missing {
		absent.add("similar isbn %q", m)
	}
	okDetail := fmt.Sprintf("%d books sampled (seed %d), %d similarity rows", len(sample), seed, total)
	s.AddCheck(CheckSampleRanks, ranks.n == 0, ranks.detail(okDetail))
	s.AddCheck(CheckSampleScoresOrdered, order.n == 0, order.detail(okDetail))
	s.AddCheck(CheckSampleScoresFinite, finite.n == 0, finite.detail(okDetail))
	s.AddCheck(CheckSampleNoSelf, self.n == 0, self.detail(okDetail))
	s.AddCheck(CheckSampleNeighborsExist, absent.n == 0,
		absent.detail(fmt.Sprintf("all %d distinct neighbors of the sample are in Books", len(want))))
	return nil
}

func rankList(rs []simRow) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 8 {
			b.WriteString(",…")
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.rank))
	}
	return b.String()
}

// problems keeps the count and the first few descriptions of one kind of
// failure, so a detail stays short however many rows are bad.
type problems struct {
	n     int
	first []string
}

func (p *problems) add(format string, args ...any) {
	p.n++
	if len(p.first) < 3 {
		p.first = append(p.first, fmt.Sprintf(format, args...))
	}
}

func (p *problems) detail(ok string) string {
	if p.n == 0 {
		return ok
	}
	d := strings.Join(p.first, "; ")
	if p.n > len(p.first) {
		d += fmt.Sprintf("; and %d more", p.n-len(p.first))
	}
	return d
}

// sampler keeps the n isbns with the smallest seeded hash (bottom-n
// sampling): a uniform sample that depends only on the seed and the set of
// isbns, not on scan order or segments, so samplers of parallel segments
// merge into the same sample a single scan would give.
type sampler struct {
	n    int
	seed int64
	h    sampleHeap
}

type sampled struct {
	hash uint64
	isbn string
}

// sampleHeap is a max-heap on (hash, isbn): the root is the first to drop.
type sampleHeap []sampled

func (h sampleHeap) Len() int           { return len(h) }
func (h sampleHeap) Less(i, j int) bool { return less(h[j], h[i]) }
func (h sampleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)        { *h = append(*h, x.(sampled)) }
func (h *sampleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func less(a, b sampled) bool {
	return a.hash < b.hash || a.hash == b.hash && a.isbn < b.isbn
}

func newSampler(n int, seed int64) *sampler { return &sampler{n: n, seed: seed} }

func (s *sampler) add(isbn string) { addSample(s, isbn) }

// addBytes is add for an isbn in a read buffer: the string is made only
// if the isbn enters the sample.
func (s *sampler) addBytes(isbn []byte) { addSample(s, isbn) }

func addSample[T string | []byte](s *sampler, isbn T) {
	if s.n <= 0 {
		return
	}
	h := sampleHash(s.seed, isbn)
	if len(s.h) < s.n {
		heap.Push(&s.h, sampled{h, string(isbn)})
		return
	}
	if root := s.h[0]; h < root.hash || h == root.hash && string(isbn) < root.isbn {
		s.h[0] = sampled{h, string(isbn)}
		heap.Fix(&s.h, 0)
	}
}

func (s *sampler) merge(o *sampler) {
	for _, x := range o.h {
		s.add(x.isbn)
	}
}

// result is the sample in hash order.
func (s *sampler) result() []string {
	xs := slices.Clone(s.h)
	slices.SortFunc(xs, func(a, b sampled) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), strings.Compare(a.isbn, b.isbn))
	})
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.isbn
	}
	return out
}

// sampleHash is FNV-1a over the seed's 8 bytes (little-endian) and the
// isbn, then the splitmix64 finalizer (FNV's low bits are weak on short
// keys). FNV-1a is written out so that hashing allocates nothing.
func sampleHash[T string | []byte](seed int64, isbn T) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	z := uint64(offset64)
	for i := range 8 {
		z ^= uint64(seed) >> (8 * i) & 0xff
		z *= prime64
	}
	for i := 0; i < len(isbn); i++ {
		z ^= uint64(isbn[i])
		z *= prime64
	}
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
