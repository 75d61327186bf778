package dynamo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FileTarget writes the two tables as JSON-lines files of DynamoDB JSON
// items (one item a line, attribute names sorted, written straight from the
// rows by appendBookJSON and appendSimilarityJSON), DIR/<table>.jsonl, for runs
// without DynamoDB. Parts are written under DIR/.parts/<run>/<table>/
// and Commit concatenates them in part order into the table files, each
// replaced atomically (temporary file and rename), so a reader sees either
// the previous run's file or the new one, and a run that never commits
// leaves the previous output as it was. Parts of runs that never commit
// stay under .parts until removed by hand.
type FileTarget struct {
	dir    string
	tables Tables
}

var _ Target = (*FileTarget)(nil)

// NewFileTarget returns a target writing into dir.
func NewFileTarget(dir string, tables Tables) *FileTarget {
	return &FileTarget{dir: dir, tables: tables}
}

// String describes the target for logs.
func (f *FileTarget) String() string {
	return fmt.Sprintf("files %s and %s", f.tablePath(f.tables.Books), f.tablePath(f.tables.Similarities))
}

const partsDir = ".parts"

func (f *FileTarget) tablePath(table string) string { return filepath.Join(f.dir, table+".jsonl") }

func (f *FileTarget) runParts(runID string) string { return filepath.Join(f.dir, partsDir, runID) }

func (f *FileTarget) partPath(runID, table string, part int) string {
	return filepath.Join(f.runParts(runID), table, fmt.Sprintf("%08d.jsonl", part))
}

// Ensure creates the output directory.
func (f *FileTarget) Ensure(ctx context.Context) error {
	if err := f.tables.Validate(); err != nil {
		return fmt.Errorf("ensure tables: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(f.dir, partsDir), 0o755); err != nil {
		return fmt.Errorf("ensure tables: %w", err)
	}
	return nil
}

// WritePart writes the part's two files, each atomically.
func (f *FileTarget) WritePart(ctx context.Context, runID string, part int, books []Book, sims []Similarity) (WriteStats, error) {
	var st WriteStats
	if err := validateRunID(runID); err != nil {
		return st, fmt.Errorf("write part %d: %w", part, err)
	}
	if part < 0 {
		return st, fmt.Errorf("write part %d of run %s: negative part number", part, runID)
	}
	if err := validatePart(books, sims); err != nil {
		return st, fmt.Errorf("write part %d of run %s: %w", part, runID, err)
	}
	for _, t := range []struct {
		table string
		n     int
		line  func(dst []byte, i int) []byte
	}{
		{f.tables.Books, len(books), func(dst []byte, i int) []byte { return appendBookJSON(dst, runID, books[i]) }},
		{f.tables.Similarities, len(sims), func(dst []byte, i int) []byte { return appendSimilarityJSON(dst, runID, sims[i]) }},
	} {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		path := f.partPath(runID, t.table, part)
		if err := writeFileAtomic(path, func(w io.Writer) error { return writeLines(w, t.n, t.line) }); err != nil {
			return st, fmt.Errorf("write part %d of run %s: %w", part, runID, err)
		}
		st.Items += int64(t.n)
		st.Batches++
	}
	return st, nil
}

// writeLines writes lines 0..n-1, each line(dst, i) appended to an empty
// dst and ended by a newline, through one buffer.
func writeLines(w io.Writer, n int, line func(dst []byte, i int) []byte) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	for i := range n {
		buf = append(line(buf[:0], i), '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeFileAtomic writes path through a temporary file in the same
// directory, synced and renamed into place.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// partFiles lists the run's part files of table in part order.
func (f *FileTarget) partFiles(runID, table string) ([]string, error) {
	dir := filepath.Join(f.runParts(runID), table)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type part struct {
		n    int
		path string
	}
	var parts []part
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || e.IsDir() {
			continue // temporary files of an interrupted write
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			continue
		}
		parts = append(parts, part{n, filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(parts, func(a, b part) int { return a.n - b.n })
	paths := make([]string, len(parts))
	for i, p := range parts {
		paths[i] = p.path
	}
	return paths, nil
}

// Commit concatenates the run's parts into the table files (books first),
// checking the row counts against written, then removes the parts. If the
// run has no parts left and the files already hold exactly written rows of
// the run, the run was committed before and Commit does nothing.
func (f *FileTarget) Commit(ctx context.Context, runID string, written Counts) (Counts, error) {
	var deleted Counts
	if err := validateRunID(runID); err != nil {
		return deleted, fmt.Errorf("commit: %w", err)
	}
	if _, err := os.Stat(f.runParts(runID)); errors.Is(err, fs.ErrNotExist) {
		got, err := f.committedCounts(ctx, runID)
		if err != nil {
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
		if got != written {
			return deleted, fmt.Errorf("commit run %s: no parts written, and the files hold %d books and %d similarities of the run, not %d and %d",
				runID, got.Books, got.Similarities, written.Books, written.Similarities)
		}
		return deleted, nil
	}
	type staged struct {
		tmp, path string
	}
	var done []staged
	defer func() {
		for _, s := range done {
			os.Remove(s.tmp) // no-op once renamed
		}
	}()
	for _, t := range []struct {
		table   string
		want    int64
		deleted *int64
	}{
		{f.tables.Books, written.Books, &deleted.Books},
		{f.tables.Similarities, written.Similarities, &deleted.Similarities},
	} {
		parts, err := f.partFiles(runID, t.table)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
		tmp, lines, err := concatParts(ctx, f.dir, t.table, parts)
		if tmp != "" {
			done = append(done, staged{tmp, f.tablePath(t.table)})
		}
		if err != nil {
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
		if lines != t.want {
			return deleted, fmt.Errorf("commit run %s: parts hold %d rows of %s, %d written", runID, lines, t.table, t.want)
		}
		if *t.deleted, err = countOtherRuns(ctx, f.tablePath(t.table), runID); err != nil {
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
	}
	for _, s := range done {
		if err := os.Rename(s.tmp, s.path); err != nil {
			return deleted, fmt.Errorf("commit run %s: %w", runID, err)
		}
	}
	if err := syncDir(f.dir); err != nil {
		return deleted, fmt.Errorf("commit run %s: %w", runID, err)
	}
	if err := os.RemoveAll(f.runParts(runID)); err != nil {
		return deleted, fmt.Errorf("commit run %s: remove parts: %w", runID, err)
	}
	// .parts itself goes when no other run has parts in it (os.Remove
	// refuses a directory that is not empty).
	_ = os.Remove(filepath.Join(f.dir, partsDir))
	return deleted, nil
}

// concatParts copies parts in order into a synced temporary file in dir
// and counts its lines.
func concatParts(ctx context.Context, dir, table string, parts []string) (tmpPath string, lines int64, err error) {
	tmp, err := os.CreateTemp(dir, "."+table+".jsonl.tmp-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if cerr := tmp.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	w := &lineCounter{w: tmp}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return tmp.Name(), 0, err
		}
		if err := copyFile(w, p); err != nil {
			return tmp.Name(), 0, err
		}
	}
	if err := tmp.Sync(); err != nil {
		return tmp.Name(), 0, err
	}
	return tmp.Name(), w.n, nil
}

func copyFile(w io.Writer, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

type lineCounter struct {
	w io.Writer
	n int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += int64(bytes.Count(p, []byte{'\n'}))
	return c.w.Write(p)
}

// countOtherRuns counts the lines of path not written by runID (a line
// that does not parse counts as another run's). A missing file has none.
func countOtherRuns(ctx context.Context, path, runID string) (int64, error) {
	var n int64
	err := eachLine(ctx, []string{path}, func(line []byte, _ lineRef) error {
		if !lineOfRun(line, runID) {
			n++
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}

// lineOfRun reports whether line's run_id is runID as json.Unmarshal into
// struct{ RunID struct{ S string } `json:"run_id"` } reads it (false for a
// line that does not parse): straight from the bytes for a line in the
// form the file target writes with no other name that matches run_id
// case-insensitively, as encoding/json would match it.
func lineOfRun(line []byte, runID string) bool {
	var run []byte
	decode := false // a name matching run_id but for case, or an escaped run id
	if scanFlatItem(line, func(name, typ, value []byte, escaped bool) {
		switch {
		case string(name) == AttrRunID:
			if string(typ) == "S" {
				run, decode = value, decode || escaped
			}
		case bytes.EqualFold(name, []byte(AttrRunID)):
			decode = true
		}
	}) && !decode {
		return string(run) == runID
	}
	var v struct {
		RunID struct{ S string } `json:"run_id"`
	}
	return json.Unmarshal(line, &v) == nil && v.RunID.S == runID
}

// maxLine bounds one JSON line: a 400 KB DynamoDB item, escaped.
const maxLine = 4 << 20

// lineRef is where a line is, for messages ("file:line"); formatted only
// when a message needs it.
type lineRef struct {
	path string
	n    int
}

func (l lineRef) String() string { return l.path + ":" + strconv.Itoa(l.n) }

// eachLine calls fn with every non-empty line of the files in order and
// its position. line is valid only during the call.
func eachLine(ctx context.Context, paths []string, fn func(line []byte, where lineRef) error) error {
	for _, p := range paths {
		if err := eachLineOf(ctx, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func eachLineOf(ctx context.Context, path string, fn func(line []byte, where lineRef) error) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line, lineRef{path, n}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// committedCounts counts the run's rows in the table files.
func (f *FileTarget) committedCounts(ctx context.Context, runID string) (Counts, error) {
	r := &fileReader{files: map[string][]string{
		f.tables.Books:        {f.tablePath(f.tables.Books)},
		f.tables.Similarities: {f.tablePath(f.tables.Similarities)},
	}, tables: f.tables}
	var c Counts
	for _, t := range []struct {
		table string
		n     *int64
	}{{f.tables.Books, &c.Books}, {f.tables.Similarities, &c.Similarities}} {
		err := r.eachRunLine(ctx, t.table, runID, func([]byte, []byte, lineRef) error {
			*t.n++
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return c, err
		}
	}
	return c, nil
}

// Verify checks the run's rows the way DynamoTarget.Verify does, reading
// the run's parts if it has not been committed yet and the table files
// otherwise. A line that does not parse is an error naming file and line.
func (f *FileTarget) Verify(ctx context.Context, runID string, expected Counts, opts VerifyOptions) (Summary, error) {
	if err := validateRunID(runID); err != nil {
		return Summary{TableCounts: map[string]int64{}}, fmt.Errorf("verify: %w", err)
	}
	r := &fileReader{files: map[string][]string{}, where: map[string]string{}, tables: f.tables}
	_, err := os.Stat(f.runParts(runID))
	uncommitted := err == nil
	for _, table := range []string{f.tables.Books, f.tables.Similarities} {
		if uncommitted {
			parts, err := f.partFiles(runID, table)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return Summary{}, fmt.Errorf("verify run %s: %w", runID, err)
			}
			if len(parts) > 0 {
				r.files[table] = parts
			}
			r.where[table] = fmt.Sprintf("%d parts of run %s under %s (not committed)", len(parts), runID, filepath.Join(f.runParts(runID), table))
			continue
		}
		p := f.tablePath(table)
		if _, err := os.Stat(p); err == nil {
			r.files[table] = []string{p}
		}
		r.where[table] = p
	}
	s, err := verify(ctx, r, f.tables, runID, expected, opts)
	if err != nil && ctx.Err() != nil {
		return s, ctx.Err()
	}
	return s, err
}

// fileReader reads a run's rows from JSON-lines files for Verify. Verify
// reads each table once: Books for its count, the sample and the set of
// the run's isbns (which answers missingBooks), then BookSimilarities for
// its count and the sample's rows. A line is decoded only as far as its
// run_id and isbn (scanFlatItem), in full only if it is one of the
// sample's rows or not in the form the file target writes.
type fileReader struct {
	files  map[string][]string // table → files in order; absent: no table
	where  map[string]string   // table → description for messages
	tables Tables

	books    isbnSet // isbns of run booksRun's books, gathered by scanBooks
	booksRun string
	scanned  bool

	passes map[string]int // when not nil, counts the passes over each table (tests: one each)
}

func (r *fileReader) tableStatus(_ context.Context, table string) (bool, string, error) {
	if _, ok := r.files[table]; !ok {
		return false, fmt.Sprintf("%s: no file (%s)", table, r.where[table]), nil
	}
	return true, fmt.Sprintf("%s: %s", table, r.where[table]), nil
}

// eachRunLine calls fn with the isbn and the line of every item of runID
// in table's files. A line that does not decode is an error naming file
// and line.
func (r *fileReader) eachRunLine(ctx context.Context, table, runID string, fn func(isbn, line []byte, where lineRef) error) error {
	if r.passes != nil {
		r.passes[table]++
	}
	return eachLine(ctx, r.files[table], func(line []byte, where lineRef) error {
		run, isbn, err := lineKeys(line)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if string(run) != runID {
			return nil
		}
		return fn(isbn, line, where)
	})
}

// lineKeys returns the run_id and isbn of an item line as itemString of
// the decoded item gives them (empty when absent or not strings), or the
// error UnmarshalItemJSON gives. A line in the form the file target
// writes is not decoded: the values are slices of line.
func lineKeys(line []byte) (runID, isbn []byte, err error) {
	escapedKey := false
	if scanFlatItem(line, func(name, typ, value []byte, escaped bool) {
		if string(typ) != "S" {
			return
		}
		switch string(name) {
		case AttrRunID:
			runID, escapedKey = value, escapedKey || escaped
		case AttrISBN:
			isbn, escapedKey = value, escapedKey || escaped
		}
	}) && !escapedKey {
		return runID, isbn, nil
	}
	item, err := UnmarshalItemJSON(line)
	if err != nil {
		return nil, nil, err
	}
	return []byte(itemString(item, AttrRunID)), []byte(itemString(item, AttrISBN)), nil
}

func (r *fileReader) scanBooks(ctx context.Context, runID string, n int, seed int64) (int64, []string, error) {
	s := newSampler(n, seed)
	r.books, r.booksRun, r.scanned = isbnSet{}, runID, false
	var count int64
	err := r.eachRunLine(ctx, r.tables.Books, runID, func(isbn, _ []byte, _ lineRef) error {
		count++
		s.addBytes(isbn)
		r.books.add(isbn)
		return nil
	})
	r.scanned = err == nil
	return count, s.result(), err
}

func (r *fileReader) scanSimilarities(ctx context.Context, runID string, sample []string) (int64, map[string][]simRow, error) {
	want := make(map[string]bool, len(sample))
	for _, isbn := range sample {
		want[isbn] = true
	}
	rows := make(map[string][]simRow, len(sample))
	var count int64
	err := r.eachRunLine(ctx, r.tables.Similarities, runID, func(isbn, line []byte, where lineRef) error {
		count++
		if !want[string(isbn)] {
			return nil
		}
		row, err := lineSimRow(line)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		rows[row.isbn] = append(rows[row.isbn], row)
		return nil
	})
	for _, rs := range rows {
		slices.SortStableFunc(rs, func(a, b simRow) int { return a.rank - b.rank })
	}
	return count, rows, err
}

// lineSimRow is parseSimRow of the item on line, reading only the four
// attributes it needs when the line is in the form the file target writes.
func lineSimRow(line []byte) (simRow, error) {
	item := make(map[string]types.AttributeValue, 4)
	decode := false
	if scanFlatItem(line, func(name, typ, value []byte, escaped bool) {
		var key string
		switch string(name) {
		case AttrISBN:
			key = AttrISBN
		case AttrSimilarISBN:
			key = AttrSimilarISBN
		case AttrRank:
			key = AttrRank
		case AttrScore:
			key = AttrScore
		default:
			return
		}
		switch {
		case escaped:
			decode = true
		case string(typ) == "S":
			item[key] = &types.AttributeValueMemberS{Value: string(value)}
		default:
			item[key] = &types.AttributeValueMemberN{Value: string(value)}
		}
	}) && !decode {
		return parseSimRow(item)
	}
	item, err := UnmarshalItemJSON(line)
	if err != nil {
		return simRow{}, err
	}
	return parseSimRow(item)
}

// missingBooks answers from the isbns scanBooks gathered, scanning Books
// first only if it has not (for this run).
func (r *fileReader) missingBooks(ctx context.Context, runID string, isbns []string) ([]string, error) {
	if !r.scanned || r.booksRun != runID {
		if _, _, err := r.scanBooks(ctx, runID, 0, 0); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, isbn := range isbns {
		if !r.books.has(isbn) {
			missing = append(missing, isbn)
		}
	}
	return missing, nil
}

// isbnSet is a set of isbns read from a table, kept without a string per
// row: isbns are gathered end to end in a buffer that becomes one string
// per 64 KB, and the set's keys are substrings of those.
type isbnSet struct {
	m    map[string]struct{}
	buf  []byte
	ends []int
}

func (s *isbnSet) add(isbn []byte) {
	s.buf = append(s.buf, isbn...)
	s.ends = append(s.ends, len(s.buf))
	if len(s.buf) >= 64<<10 {
		s.flush()
	}
}

func (s *isbnSet) flush() {
	if s.m == nil {
		s.m = make(map[string]struct{})
	}
	chunk, start := string(s.buf), 0
	for _, end := range s.ends {
		s.m[chunk[start:end]] = struct{}{}
		start = end
	}
	s.buf, s.ends = s.buf[:0], s.ends[:0]
}

func (s *isbnSet) has(isbn string) bool {
	if len(s.ends) > 0 {
		s.flush()
	}
	_, ok := s.m[isbn]
	return ok
}
