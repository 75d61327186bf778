package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dataset"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// prepared is what prepare leaves for the report (also stored, so a resumed
// run reports the same counts).
type prepared struct {
	Counts Counts   `json:"counts"`
	Issues []string `json:"issues"`
}

// maxIssues is how many bad-row examples the report keeps.
const maxIssues = 20

// ratingRow is one explicit rating during prepare.
type ratingRow struct {
	user, book int32 // interned ids, later model indices
	value      float32
}

// Prepare streams both input files, filters and indexes the ratings, splits
// them into train and test, and writes the rating blocks, dictionaries and
// book metadata to the block store. The layout document is written last:
// its presence marks prepare as done. Errors from the inputs wrap
// ErrBadInput; errors from the store do not.
func Prepare(ctx context.Context, rs *runstore.Run, plan tasks.Plan) (tasks.Layout, prepared, error) {
	var out prepared
	c := &out.Counts
	c.RatingsDropped = map[string]int64{}
	c.BooksDropped = map[string]int64{}
	c.Repaired = map[string]int64{}

	in, err := readRatings(ctx, plan.Ratings, &out)
	if err != nil {
		return tasks.Layout{}, out, err
	}
	rows := filterRatings(in.rows, len(in.users), len(in.books), plan.Prepare, c)
	// Index users and books by (count desc, id asc), as Spark's
	// StringIndexer does on the filtered data.
	userIdx, users := index(rows, len(in.users), in.users, func(r ratingRow) int32 { return r.user })
	bookIdx, books := index(rows, len(in.books), in.books, func(r ratingRow) int32 { return r.book })
	c.Users, c.Books, c.Ratings = int64(len(users)), int64(len(books)), int64(len(rows))
	train, test := split(rows, userIdx, bookIdx, in.users, in.books, plan.Prepare)
	c.RatingsTrain, c.RatingsTest = int64(len(train)), int64(len(test))
	l := tasks.Layout{Users: len(users), Items: len(books), BlockRows: plan.BlockRows}
	if l.Users == 0 || l.Items == 0 {
		return l, out, fmt.Errorf("no ratings left after filtering (%d read, dropped%s): the model needs users with ≥ %d and books with ≥ %d explicit ratings: %w",
			c.RatingsRead, reasons(c.RatingsDropped), plan.Prepare.MinUserRatings, plan.Prepare.MinBookRatings, ErrBadInput)
	}
	cat, err := readCatalog(ctx, plan.Books, books, &out)
	if err != nil {
		return l, out, err
	}
	if err := writePrepared(ctx, rs, l, train, test, users, books, cat); err != nil {
		return l, out, err
	}
	if err := rs.PutJSON(ctx, runstore.PrepareDoc, out); err != nil {
		return l, out, err
	}
	return l, out, rs.PutJSON(ctx, runstore.LayoutDoc, l)
}

// ratingsIn are the explicit ratings of Ratings.csv with interned ids.
type ratingsIn struct {
	rows         []ratingRow
	users, books []string // id → name
}

// readRatings streams Ratings.csv, interning ids and keeping the explicit
// ratings; drops and issues go to out.
func readRatings(ctx context.Context, url string, out *prepared) (ratingsIn, error) {
	c := &out.Counts
	var in ratingsIn
	userID, bookID := map[string]int32{}, map[string]int32{}
	intern := func(m map[string]int32, names *[]string, s string) int32 {
		if id, ok := m[s]; ok {
			return id
		}
		id := int32(len(*names))
		m[s] = id
		*names = append(*names, s)
		return id
	}
	rc, _, err := store.OpenURL(ctx, url)
	if err != nil {
		return in, fmt.Errorf("open Ratings.csv %s: %w: %w", url, err, ErrBadInput)
	}
	defer rc.Close()
	// Duplicate (user, isbn) rows all train, as in Spark; they are counted.
	var dups dataset.Duplicates
	rep, err := dataset.ReadRatings(ctx, rc, "Ratings.csv", func(r dataset.Rating) error {
		if r.Value == 0 {
			c.RatingsDropped["implicit_zero"]++
			return nil
		}
		row := ratingRow{intern(userID, &in.users, r.User), intern(bookID, &in.books, r.ISBN), float32(r.Value)}
		in.rows = append(in.rows, row)
		dups.Add(row.user, row.book, row.value)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return in, ctx.Err()
		}
		return in, fmt.Errorf("read Ratings.csv %s: %w: %w", url, err, ErrBadInput)
	}
	c.RatingsRead = rep.Rows
	c.DuplicateRatings, c.ConflictingRatings = dups.Counts()
	merge(c.RatingsDropped, rep.Dropped)
	merge(c.Repaired, rep.Repaired)
	for _, is := range rep.Examples {
		out.Issues = appendIssue(out.Issues, is.Error())
	}
	return in, nil
}

// filterRatings is the seed's filter, one pass each: users with enough
// explicit ratings, then books with enough ratings from those users.
func filterRatings(rows []ratingRow, nUsers, nBooks int, pp tasks.PrepareParams, c *Counts) []ratingRow {
	userCount := make([]int32, nUsers)
	for _, r := range rows {
		userCount[r.user]++
	}
	bookCount := make([]int32, nBooks)
	kept := rows[:0]
	for _, r := range rows {
		if int(userCount[r.user]) < pp.MinUserRatings {
			c.RatingsDropped["user_below_min_ratings"]++
			continue
		}
		kept = append(kept, r)
		bookCount[r.book]++
	}
	rows = kept
	kept = rows[:0]
	for _, r := range rows {
		if int(bookCount[r.book]) < pp.MinBookRatings {
			c.RatingsDropped["book_below_min_ratings"]++
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// split maps rows to model indices and holds out the test share by a hash
// of (seed, user, isbn).
func split(rows []ratingRow, userIdx, bookIdx []int32, userNames, bookNames []string, pp tasks.PrepareParams) (train, test []ratingRow) {
	for _, r := range rows {
		m := ratingRow{userIdx[r.user], bookIdx[r.book], r.value}
		if splitTest(pp.Seed, userNames[r.user], bookNames[r.book], pp.TestFraction) {
			test = append(test, m)
		} else {
			train = append(train, m)
		}
	}
	return train, test
}

// readCatalog streams Books.csv and keeps the metadata of the model's
// books (in model index order); drops and issues go to out.
func readCatalog(ctx context.Context, url string, books []string, out *prepared) (blocks.Catalog, error) {
	c := &out.Counts
	meta := make([]dataset.Book, len(books))
	has := make([]bool, len(books))
	bookPos := make(map[string]int32, len(books))
	for i, isbn := range books {
		bookPos[isbn] = int32(i)
	}
	rc, _, err := store.OpenURL(ctx, url)
	if err != nil {
		return blocks.Catalog{}, fmt.Errorf("open Books.csv %s: %w: %w", url, err, ErrBadInput)
	}
	defer rc.Close()
	rep, err := dataset.ReadBooks(ctx, rc, "Books.csv", func(b dataset.Book) error {
		i, ok := bookPos[b.ISBN]
		if !ok {
			return nil
		}
		if has[i] {
			c.BooksDropped["duplicate_isbn"]++
			out.Issues = appendIssue(out.Issues, fmt.Sprintf("Books.csv:%d: column ISBN: duplicate_isbn: %q (the first row is kept)", b.Line, b.ISBN))
			return nil
		}
		meta[i], has[i] = b, true
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return blocks.Catalog{}, ctx.Err()
		}
		return blocks.Catalog{}, fmt.Errorf("read Books.csv %s: %w: %w", url, err, ErrBadInput)
	}
	c.BooksRead = rep.Rows
	merge(c.BooksDropped, rep.Dropped)
	merge(c.Repaired, rep.Repaired)
	for _, is := range rep.Examples {
		out.Issues = appendIssue(out.Issues, is.Error())
	}
	var cat blocks.Catalog
	for i := range books {
		if !has[i] {
			c.BooksWithoutMetadata++
			continue
		}
		b := meta[i]
		cat.Index = append(cat.Index, int32(i))
		cat.ISBN = append(cat.ISBN, b.ISBN)
		cat.Title = append(cat.Title, b.Title)
		cat.Author = append(cat.Author, b.Author)
		cat.Year = append(cat.Year, int32(b.Year))
		cat.Publisher = append(cat.Publisher, b.Publisher)
		cat.ImageSmall = append(cat.ImageSmall, b.ImageSmall)
		cat.ImageMedium = append(cat.ImageMedium, b.ImageMedium)
	}
	return cat, nil
}

// writePrepared writes the rating blocks (training CSR by user and by
// item, test CSR by user), the id dictionaries and the book metadata.
func writePrepared(ctx context.Context, rs *runstore.Run, l tasks.Layout, train, test []ratingRow, users, books []string, cat blocks.Catalog) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	writeCSR := func(side string, n int, rows []ratingRow, byUser bool) {
		ptr, col, val := csr(rows, n, byUser)
		for b := range l.Blocks(n) {
			start, end := l.Range(b, n)
			lo, hi := ptr[start], ptr[end]
			rowPtr := make([]int32, end-start+1)
			for i := range rowPtr {
				rowPtr[i] = ptr[start+i] - lo
			}
			blk := blocks.Ratings{Start: start, RowPtr: rowPtr, Col: col[lo:hi], Val: val[lo:hi]}
			g.Go(func() error { return rs.PutRatings(gctx, side, b, blk) })
		}
	}
	writeCSR("users", l.Users, train, true)
	writeCSR("items", l.Items, train, false)
	writeCSR("test", l.Users, test, true)
	g.Go(func() error { return rs.PutStrings(gctx, "users", users) })
	g.Go(func() error { return rs.PutStrings(gctx, "books", books) })
	g.Go(func() error { return rs.PutMetadata(gctx, cat) })
	return g.Wait()
}

// index orders the ids that occur in rows by (count desc, name asc) and
// returns id → index and the names in index order.
func index(rows []ratingRow, n int, names []string, id func(ratingRow) int32) ([]int32, []string) {
	count := make([]int32, n)
	for _, r := range rows {
		count[id(r)]++
	}
	var ids []int32
	for i, cnt := range count {
		if cnt > 0 {
			ids = append(ids, int32(i))
		}
	}
	sort.Slice(ids, func(a, b int) bool {
		ca, cb := count[ids[a]], count[ids[b]]
		if ca != cb {
			return ca > cb
		}
		return names[ids[a]] < names[ids[b]]
	})
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = -1
	}
	ordered := make([]string, len(ids))
	for i, id := range ids {
		idx[id] = int32(i)
		ordered[i] = names[id]
	}
	return idx, ordered
}

// csr builds compressed rows (by user or by book) with each row's entries
// sorted by column then value, so the layout is independent of input order.
func csr(rs []ratingRow, n int, byUser bool) (ptr, col []int32, val []float32) {
	row := func(r ratingRow) (int32, int32) {
		if byUser {
			return r.user, r.book
		}
		return r.book, r.user
	}
	ptr = make([]int32, n+1)
	for _, r := range rs {
		i, _ := row(r)
		ptr[i+1]++
	}
	for i := range n {
		ptr[i+1] += ptr[i]
	}
	next := slices.Clone(ptr[:n])
	col = make([]int32, len(rs))
	val = make([]float32, len(rs))
	for _, r := range rs {
		i, j := row(r)
		col[next[i]], val[next[i]] = j, r.value
		next[i]++
	}
	for i := range n {
		lo, hi := ptr[i], ptr[i+1]
		sort.Sort(byCol{col[lo:hi], val[lo:hi]})
	}
	return ptr, col, val
}

type byCol struct {
	col []int32
	val []float32
}

func (s byCol) Len() int { return len(s.col) }
func (s byCol) Less(i, j int) bool {
	return s.col[i] < s.col[j] || s.col[i] == s.col[j] && s.val[i] < s.val[j]
}
func (s byCol) Swap(i, j int) {
	s.col[i], s.col[j] = s.col[j], s.col[i]
	s.val[i], s.val[j] = s.val[j], s.val[i]
}

// splitTest decides whether a rating is held out: a hash of (seed, user,
// isbn) mapped to [0,1) below fraction. Unlike Spark's randomSplit it does
// not depend on partitioning, so any layout gives the same split.
func splitTest(seed int64, user, isbn string, fraction float64) bool {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(isbn))
	x := h.Sum64()
	// splitmix64 finaliser: FNV's low bits are weak.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/math.Exp2(53) < fraction
}

func merge(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

func appendIssue(issues []string, s string) []string {
	if len(issues) >= maxIssues {
		return issues
	}
	return append(issues, strings.ToValidUTF8(s, "?"))
}
