package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/betterread/pipeline/shared/blocks"
	"github.com/betterread/pipeline/shared/dataset"
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
// book metadata to the block store. The layout key is written last: its
// presence marks prepare as done.
func Prepare(ctx context.Context, st store.Store, plan tasks.Plan) (tasks.Layout, prepared, error) {
	var out prepared
	c := &out.Counts
	c.RatingsDropped = map[string]int64{}
	c.BooksDropped = map[string]int64{}
	c.Repaired = map[string]int64{}

	// 1. Ratings: intern ids, keep explicit ratings.
	userID, bookID := map[string]int32{}, map[string]int32{}
	var userNames, bookNames []string
	var rows []ratingRow
	intern := func(m map[string]int32, names *[]string, s string) int32 {
		if id, ok := m[s]; ok {
			return id
		}
		id := int32(len(*names))
		m[s] = id
		*names = append(*names, s)
		return id
	}
	rc, _, err := store.OpenURL(ctx, plan.Ratings)
	if err != nil {
		return tasks.Layout{}, out, fmt.Errorf("open Ratings.csv: %w", err)
	}
	rrep, err := dataset.ReadRatings(ctx, rc, "Ratings.csv", func(r dataset.Rating) error {
		if r.Value == 0 {
			c.RatingsDropped["implicit_zero"]++
			return nil
		}
		rows = append(rows, ratingRow{intern(userID, &userNames, r.User), intern(bookID, &bookNames, r.ISBN), float32(r.Value)})
		return nil
	})
	rc.Close()
	if err != nil {
		return tasks.Layout{}, out, fmt.Errorf("read Ratings.csv: %w", err)
	}
	c.RatingsRead = rrep.Rows
	merge(c.RatingsDropped, rrep.Dropped)
	merge(c.Repaired, rrep.Repaired)
	for _, is := range rrep.Examples {
		out.Issues = appendIssue(out.Issues, is.Error())
	}

	// 2. The seed's filter, one pass each: users with enough explicit
	// ratings, then books with enough ratings from those users.
	userCount := make([]int32, len(userNames))
	for _, r := range rows {
		userCount[r.user]++
	}
	bookCount := make([]int32, len(bookNames))
	kept := rows[:0]
	for _, r := range rows {
		if int(userCount[r.user]) < plan.Prepare.MinUserRatings {
			c.RatingsDropped["user_below_min_ratings"]++
			continue
		}
		kept = append(kept, r)
		bookCount[r.book]++
	}
	rows = kept
	kept = rows[:0]
	for _, r := range rows {
		if int(bookCount[r.book]) < plan.Prepare.MinBookRatings {
			c.RatingsDropped["book_below_min_ratings"]++
			continue
		}
		kept = append(kept, r)
	}
	rows = kept

	// 3. Index users and books by (count desc, id asc), as Spark's
	// StringIndexer does on the filtered data.
	userIdx, users := index(rows, len(userNames), userNames, func(r ratingRow) int32 { return r.user })
	bookIdx, books := index(rows, len(bookNames), bookNames, func(r ratingRow) int32 { return r.book })
	c.Users, c.Books, c.Ratings = int64(len(users)), int64(len(books)), int64(len(rows))

	// 4. Split reproducibly by a hash of (seed, user, isbn).
	var train, test []ratingRow
	for _, r := range rows {
		m := ratingRow{userIdx[r.user], bookIdx[r.book], r.value}
		if splitTest(plan.Prepare.Seed, userNames[r.user], bookNames[r.book], plan.Prepare.TestFraction) {
			test = append(test, m)
		} else {
			train = append(train, m)
		}
	}
	c.RatingsTrain, c.RatingsTest = int64(len(train)), int64(len(test))
	l := tasks.Layout{Users: len(users), Items: len(books), BlockRows: plan.BlockRows}
	if l.Users == 0 || l.Items == 0 {
		return l, out, fmt.Errorf("no ratings left after filtering (%d read, dropped%s): the model needs users with ≥ %d and books with ≥ %d explicit ratings",
			c.RatingsRead, reasons(c.RatingsDropped), plan.Prepare.MinUserRatings, plan.Prepare.MinBookRatings)
	}

	// 5. Books.csv: metadata for the books in the model.
	meta := make([]dataset.Book, len(books))
	has := make([]bool, len(books))
	bookPos := make(map[string]int32, len(books))
	for i, isbn := range books {
		bookPos[isbn] = int32(i)
	}
	rc, _, err = store.OpenURL(ctx, plan.Books)
	if err != nil {
		return l, out, fmt.Errorf("open Books.csv: %w", err)
	}
	brep, err := dataset.ReadBooks(ctx, rc, "Books.csv", func(b dataset.Book) error {
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
	rc.Close()
	if err != nil {
		return l, out, fmt.Errorf("read Books.csv: %w", err)
	}
	c.BooksRead = brep.Rows
	merge(c.BooksDropped, brep.Dropped)
	merge(c.Repaired, brep.Repaired)
	for _, is := range brep.Examples {
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

	// 6. Write blocks, dictionaries and metadata, then the layout.
	keys := store.RunKeys(plan.Run)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	writeCSR := func(side string, n int, rs []ratingRow, byUser bool, key func(b int) string) {
		ptr, col, val := csr(rs, n, byUser)
		for b := range l.Blocks(n) {
			start, end := l.Range(b, n)
			lo, hi := ptr[start], ptr[end]
			rowPtr := make([]int32, end-start+1)
			for i := range rowPtr {
				rowPtr[i] = ptr[start+i] - lo
			}
			blk := blocks.Ratings{Start: start, RowPtr: rowPtr, Col: col[lo:hi], Val: val[lo:hi]}
			k := key(b)
			g.Go(func() error {
				return put(gctx, st, k, func(w io.Writer) error { return blocks.EncodeRatings(w, blk) })
			})
		}
	}
	writeCSR("users", l.Users, train, true, func(b int) string { return keys.Ratings("users", b) })
	writeCSR("items", l.Items, train, false, func(b int) string { return keys.Ratings("items", b) })
	writeCSR("test", l.Users, test, true, keys.Test)
	g.Go(func() error {
		return put(gctx, st, keys.Users(), func(w io.Writer) error { return blocks.EncodeStrings(w, "users", users) })
	})
	g.Go(func() error {
		return put(gctx, st, keys.Books(), func(w io.Writer) error { return blocks.EncodeStrings(w, "books", books) })
	})
	g.Go(func() error {
		return put(gctx, st, keys.Metadata(), func(w io.Writer) error { return blocks.EncodeCatalog(w, cat) })
	})
	if err := g.Wait(); err != nil {
		return l, out, err
	}
	if err := putJSON(ctx, st, keys.PrepareReport(), out); err != nil {
		return l, out, err
	}
	return l, out, putJSON(ctx, st, keys.Layout(), l)
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

func put(ctx context.Context, st store.Store, key string, enc func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := enc(&buf); err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := st.Put(ctx, key, &buf); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func putJSON(ctx context.Context, st store.Store, key string, v any) error {
	return put(ctx, st, key, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

func getJSON(ctx context.Context, st store.Store, key string, v any) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}
