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
	err := eachLine(ctx, []string{path}, func(line []byte, _ string) error {
		var v struct {
			RunID struct{ S string } `json:"run_id"`
		}
		if json.Unmarshal(line, &v) != nil || v.RunID.S != runID {
			n++
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}

// maxLine bounds one JSON line: a 400 KB DynamoDB item, escaped.
const maxLine = 4 << 20

// eachLine calls fn with every non-empty line of the files in order and
// its position ("file:line").
func eachLine(ctx context.Context, paths []string, fn func(line []byte, where string) error) error {
	for _, p := range paths {
		if err := eachLineOf(ctx, p, fn); err != nil {
			return err
		}
	}
	return nil
}

func eachLineOf(ctx context.Context, path string, fn func(line []byte, where string) error) error {
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
		if err := fn(line, path+":"+strconv.Itoa(n)); err != nil {
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
	var err error
	if c.Books, _, err = r.scanBooks(ctx, runID, 0, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if c.Similarities, err = r.countSimilarities(ctx, runID); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, err
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

// fileReader reads a run's rows from JSON-lines files for Verify.
type fileReader struct {
	files  map[string][]string // table → files in order; absent: no table
	where  map[string]string   // table → description for messages
	tables Tables
}

func (r *fileReader) tableStatus(_ context.Context, table string) (bool, string, error) {
	if _, ok := r.files[table]; !ok {
		return false, fmt.Sprintf("%s: no file (%s)", table, r.where[table]), nil
	}
	return true, fmt.Sprintf("%s: %s", table, r.where[table]), nil
}

// eachRunItem calls fn with every item of runID in table's files.
func (r *fileReader) eachRunItem(ctx context.Context, table, runID string, fn func(map[string]types.AttributeValue, string) error) error {
	return eachLine(ctx, r.files[table], func(line []byte, where string) error {
		item, err := UnmarshalItemJSON(line)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if itemString(item, AttrRunID) != runID {
			return nil
		}
		return fn(item, where)
	})
}

func (r *fileReader) scanBooks(ctx context.Context, runID string, n int, seed int64) (int64, []string, error) {
	s := newSampler(n, seed)
	var count int64
	err := r.eachRunItem(ctx, r.tables.Books, runID, func(item map[string]types.AttributeValue, _ string) error {
		count++
		s.add(itemString(item, AttrISBN))
		return nil
	})
	return count, s.result(), err
}

func (r *fileReader) countSimilarities(ctx context.Context, runID string) (int64, error) {
	var count int64
	err := r.eachRunItem(ctx, r.tables.Similarities, runID, func(map[string]types.AttributeValue, string) error {
		count++
		return nil
	})
	return count, err
}

func (r *fileReader) similarities(ctx context.Context, runID string, isbns []string) (map[string][]simRow, error) {
	want := make(map[string]bool, len(isbns))
	for _, isbn := range isbns {
		want[isbn] = true
	}
	rows := make(map[string][]simRow, len(isbns))
	err := r.eachRunItem(ctx, r.tables.Similarities, runID, func(item map[string]types.AttributeValue, where string) error {
		isbn := itemString(item, AttrISBN)
		if !want[isbn] {
			return nil
		}
		row, err := parseSimRow(item)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		rows[isbn] = append(rows[isbn], row)
		return nil
	})
	for _, rs := range rows {
		slices.SortStableFunc(rs, func(a, b simRow) int { return a.rank - b.rank })
	}
	return rows, err
}

func (r *fileReader) missingBooks(ctx context.Context, runID string, isbns []string) ([]string, error) {
	want := make(map[string]bool, len(isbns))
	for _, isbn := range isbns {
		want[isbn] = false
	}
	err := r.eachRunItem(ctx, r.tables.Books, runID, func(item map[string]types.AttributeValue, _ string) error {
		isbn := itemString(item, AttrISBN)
		if _, ok := want[isbn]; ok {
			want[isbn] = true
		}
		return nil
	})
	var missing []string
	for _, isbn := range isbns {
		if !want[isbn] {
			missing = append(missing, isbn)
		}
	}
	return missing, err
}
