package dynamo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// readItems reads a committed JSON-lines table file.
func readItems(t *testing.T, path string) []map[string]types.AttributeValue {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]types.AttributeValue
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		item, err := UnmarshalItemJSON(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		items = append(items, item)
	}
	return items
}

func dumpFiles(dir string, tables Tables) func(t *testing.T) (map[string]string, map[string]string) {
	return func(t *testing.T) (map[string]string, map[string]string) {
		books, sims := map[string]string{}, map[string]string{}
		for _, it := range readItems(t, filepath.Join(dir, tables.Books+".jsonl")) {
			books[itemString(it, AttrISBN)] = itemString(it, AttrRunID)
		}
		for _, it := range readItems(t, filepath.Join(dir, tables.Similarities+".jsonl")) {
			r, err := parseSimRow(it)
			if err != nil {
				t.Fatal(err)
			}
			sims[simKey(r.isbn, r.rank)] = itemString(it, AttrRunID)
		}
		return books, sims
	}
}

func TestFileTargetCommitRemovesStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tables := TablesWithPrefix("")
	testCommitRemovesStale(t, targetEnv{
		target: NewFileTarget(dir, tables),
		dump:   dumpFiles(dir, tables),
		// Every row of run A in the replaced files.
		deletedOnCommitB: Counts{Books: 3, Similarities: 6},
	})
}

func TestFileTargetVerifyCatches(t *testing.T) {
	t.Parallel()
	testVerifyCatches(t, func(t *testing.T) Target {
		tg := NewFileTarget(t.TempDir(), TablesWithPrefix(""))
		if err := tg.Ensure(t.Context()); err != nil {
			t.Fatal(err)
		}
		return tg
	})
}

func TestFileTargetOutput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "out")
	tables := TablesWithPrefix("")
	tg := NewFileTarget(dir, tables)
	if err := tg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	books, sims := genRun(isbnRange("f", 0, 25), 3)
	// Parts written out of order and one twice (a retried task).
	byPart := [][]Book{books[:10], books[10:20], books[20:]}
	simsOf := func(bs []Book) []Similarity {
		var out []Similarity
		for _, s := range sims {
			for _, b := range bs {
				if s.ISBN == b.ISBN {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for _, p := range []int{2, 0, 1, 2} {
		st, err := tg.WritePart(ctx, "run1", p, byPart[p], simsOf(byPart[p]))
		if err != nil {
			t.Fatal(err)
		}
		if st.Items != int64(len(byPart[p])*4) {
			t.Errorf("part %d stats %+v", p, st)
		}
	}
	wrote := countsOf(books, sims)
	if _, err := os.Stat(filepath.Join(dir, "Books.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Books.jsonl exists before commit: %v", err)
	}
	if s, err := tg.Verify(ctx, "run1", wrote, VerifyOptions{Sample: 5}); err != nil || !s.Verified {
		t.Fatalf("verify before commit: %v %+v", err, s)
	}
	if _, err := tg.Commit(ctx, "run1", wrote); err != nil {
		t.Fatal(err)
	}
	got := readItems(t, filepath.Join(dir, "Books.jsonl"))
	if len(got) != len(books) {
		t.Fatalf("%d books in the file, want %d", len(got), len(books))
	}
	for i, it := range got { // part order
		if itemString(it, AttrISBN) != books[i].ISBN {
			t.Fatalf("line %d holds %s, want %s", i+1, itemString(it, AttrISBN), books[i].ISBN)
		}
	}
	if n := len(readItems(t, filepath.Join(dir, "BookSimilarities.jsonl"))); n != len(sims) {
		t.Errorf("%d similarity rows, want %d", n, len(sims))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "BookSimilarities.jsonl Books.jsonl" {
		t.Errorf("output dir holds %v, want the two files and no empty leftovers", names)
	}
	if rest, _ := os.ReadDir(filepath.Join(dir, ".parts")); len(rest) != 0 {
		t.Errorf("parts left after commit: %v", rest)
	}
	s, err := tg.Verify(ctx, "run1", wrote, DefaultVerifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Verified || len(s.Checks) != 11 {
		t.Errorf("25 books passed the 1000-book minimum: %+v", s)
	}
	if c, _ := s.Lookup(CheckMinBooks); c.OK || c.Detail != "25 books, minimum 1000" {
		t.Errorf("min books check %+v", c)
	}
}

func TestFileTargetVerifyNoFiles(t *testing.T) {
	t.Parallel()
	tg := NewFileTarget(t.TempDir(), TablesWithPrefix(""))
	s, err := tg.Verify(t.Context(), "run1", Counts{}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Verified || len(s.Checks) != 2 {
		t.Errorf("verified with no files: %+v", s)
	}
	for _, name := range []string{CheckBooksTable, CheckSimilaritiesTable} {
		if c, ok := s.Lookup(name); !ok || c.OK {
			t.Errorf("%s = %+v", name, c)
		}
	}
}

func TestFileTargetVerifyBadLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tg := NewFileTarget(dir, TablesWithPrefix(""))
	books, sims := genRun([]string{"a", "b", "c"}, 2)
	wrote, _ := writeRun(t, tg, "run1", books, sims, 3)
	if _, err := tg.Commit(t.Context(), "run1", wrote); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "BookSimilarities.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"isbn":{"S":"a"},"rank":{"N":"NaN"},"run_id":{"S":"run1"}}` + "\n")
	f.Close()
	_, err = tg.Verify(t.Context(), "run1", wrote, VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), path+":7") {
		t.Errorf("err = %v, want one naming %s:7", err, path)
	}
}

func TestFileTargetCommitWithoutParts(t *testing.T) {
	t.Parallel()
	tg := NewFileTarget(t.TempDir(), TablesWithPrefix(""))
	if err := tg.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Commit(t.Context(), "run1", Counts{Books: 1}); err == nil || !strings.Contains(err.Error(), "no parts") {
		t.Errorf("err = %v, want no parts", err)
	}
	if _, err := tg.Commit(t.Context(), "run1", Counts{}); err != nil {
		t.Errorf("committing an empty run: %v", err)
	}
}
