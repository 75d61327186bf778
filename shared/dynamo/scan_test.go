package dynamo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// scanSamples are lines near the edge of the form scanFlatItem reads
// without decoding: each must give what the full decoder gives.
var scanSamples = append([]string{
	`{"author":{"S":"A"},"isbn":{"S":"a"},"rank":{"N":"3"},"run_id":{"S":"r1"},"similarity_score":{"N":"0.1"}}`,
	`{"isbn":{"S":"x"},"run_id":{"S":"r"}}`, `{"run_id":{"S":"r"},"isbn":{"S":"x"}}`, // unsorted: decoded
	`{"isbn":{"S":"x"},"isbn":{"S":"y"}}`, `{"isbn":{"N":"1"},"run_id":{"S":"r"}}`, `{"run_id":{"N":"1"}}`,
	`{"RUN_ID":{"S":"r"},"isbn":{"S":"x"}}`, `{"isbn":{"S":"x"},"run_iD":{"S":"r"}}`, `{"run_id":{"s":"r"}}`,
	`{"isbn":{"S":"x\"y"},"run_id":{"S":"r"}}`, `{"isbn":{"S":"x\u00e9"},"run_id":{"S":"r"}}`, `{"isbn":{"S":"x"},"run_id":{"S":"r\/"}}`,
	`{"a":{"S":"\ud800"},"isbn":{"S":"x"}}`, `{"a":{"S":"\u12"},"isbn":{"S":"x"}}`, `{"a":{"S":"\x"}}`, `{"a":{"S":"\` + "\u00e9" + `"}}`,
	`{"a":{"S":"x\\"},"isbn":{"S":"y"}}`, `{"a":{"S":"\\\""}}`, `{"a":{"N":"\u0031"}}`, `{"\u0061":{"S":"x"}}`, `{"a":{"\u0053":"x"}}`,
	`{"isbn":{"S":"a"},"is\u0062n":{"S":"b"}}`, `{"a":{"S":"` + "\u0000" + `"}}`, "{\"a\":{\"S\":\"\x01\"}}",
	"{\"isbn\":{\"S\":\"caf\xe9\"},\"run_id\":{\"S\":\"r\"}}", `{"isbn":{"S":"x"},"rank":{"N":"NaN"},"run_id":{"S":"r"}}`,
	`{"isbn":{"S":"x"},"rank":{"N":"1."},"run_id":{"S":"r"}}`, `{"isbn":{"S":"x"},"rank":{"N":".5e-3"},"run_id":{"S":"r"}}`,
	`{"isbn":{"S":"x"},"run_id":{"S":"r"},}`, `{"isbn":{"S":"x"} }`, `{}`, `{"":{"S":""}}`, `[]`, `{"a":{"BOOL":true}}`,
	`{"isbn":{"S":"x"},"m":{"M":{"run_id":{"S":"r"}}}}`, `{"isbn":{"S":"a"},"rank":{"N":"2.5"},"similar_isbn":{"S":"b"},"similarity_score":{"N":"1"}}`,
	`{"isbn":{"S":"a"},"rank":{"S":"2"}}`, `{"isbn":{"S":"a"},"rank":{"N":"2"},"similarity_score":{"S":"1"}}`, `{"isbn":{"S":"\u0061"},"rank":{"N":"1e3"}}`,
	`{"isbn":{"S":"a"},"rank":{"N":"1e10"},"similar_isbn":{"S":"b\"c"},"similarity_score":{"N":"-0.5"}}`, `{"isbn":{"S":"x"},"run_id":{"S":"r"}}x`, `{"isbn":{"S":null}}`,
}, flatSamples...)

// checkScan holds lineKeys and lineOfRun to the full decoders they
// replace, and scanFlatItem's attributes to UnmarshalItemJSON's.
func checkScan(t *testing.T, line []byte) {
	t.Helper()
	attrs := map[string]types.AttributeValue{}
	dup := false
	ok := scanFlatItem(line, func(name, typ, value []byte, escaped bool) {
		if _, seen := attrs[string(name)]; seen {
			dup = true
		}
		switch string(typ) {
		case "S":
			v := string(value)
			if escaped {
				if err := json.Unmarshal([]byte(`"`+v+`"`), &v); err != nil {
					t.Fatalf("%q: escaped value %q: %v", line, value, err)
				}
			}
			attrs[string(name)] = &types.AttributeValueMemberS{Value: v}
		case "N":
			attrs[string(name)] = &types.AttributeValueMemberN{Value: string(value)}
		default:
			t.Fatalf("%q: type %q", line, typ)
		}
	})
	item, err := UnmarshalItemJSON(line)
	if ok {
		if err != nil || dup || !reflect.DeepEqual(attrs, item) {
			t.Fatalf("%q: scanned %v (dup %v), decoded %v (%v)", line, attrs, dup, item, err)
		}
	}
	run, isbn, kerr := lineKeys(line)
	if (kerr == nil) != (err == nil) {
		t.Fatalf("%q: lineKeys error %v, UnmarshalItemJSON error %v", line, kerr, err)
	}
	if err == nil && (string(run) != itemString(item, AttrRunID) || string(isbn) != itemString(item, AttrISBN)) {
		t.Fatalf("%q: lineKeys = %q, %q; decoded %q, %q", line, run, isbn, itemString(item, AttrRunID), itemString(item, AttrISBN))
	}
	if err == nil {
		got, gerr := lineSimRow(line)
		want, werr := parseSimRow(item)
		if got != want || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%q: lineSimRow = %+v, %v; parseSimRow of the decoded item %+v, %v", line, got, gerr, want, werr)
		}
	}
	var v struct {
		RunID struct{ S string } `json:"run_id"`
	}
	jerr := json.Unmarshal(line, &v)
	for _, runID := range []string{"r", "r1", "", v.RunID.S} {
		if got, want := lineOfRun(line, runID), jerr == nil && v.RunID.S == runID; got != want {
			t.Fatalf("%q: lineOfRun(%q) = %v, encoding/json says %v", line, runID, got, want)
		}
	}
}

func TestScanMatchesDecoders(t *testing.T) {
	t.Parallel()
	for _, s := range scanSamples {
		checkScan(t, []byte(s))
	}
	books, sims := awkwardRun(200, 5)
	for _, b := range books {
		checkScan(t, appendBookJSON(nil, "r1", b))
	}
	for _, s := range sims {
		checkScan(t, appendSimilarityJSON(nil, "r1", s))
	}
	// What the file target writes for ordinary rows, quotes and
	// non-ASCII letters included, is read without a decode.
	b, s := genRun(isbnRange("s", 0, 3), 2)
	b[1].Title, s[1].Title = `Salt, Stone and "Sky"`, "Søren's \\ \n"
	for _, line := range [][]byte{appendBookJSON(nil, "r1", b[1]), appendSimilarityJSON(nil, "r1", s[1])} {
		if !scanFlatItem(line, func(_, _, _ []byte, _ bool) {}) {
			t.Errorf("%s: not in the scanned form", line)
		}
	}
}

func FuzzScanMatchesDecoders(f *testing.F) {
	for _, s := range scanSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(checkScan)
}

func TestValidNumberMatchesRegexp(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0", "-0", "+1", "1.", ".5", ".", "-.", "1e5", "1E+5", "1e-05", "1e", "e5", ".e5", "1.e5",
		"1.5e3.2", "--1", "+-1", "1 ", " 1", "NaN", "Inf", "0x10", "1_000", "3.4028235e+38", "1e-07", "१"} {
		if got, want := validNumber(s), number.MatchString(s); got != want {
			t.Errorf("validNumber(%q) = %v, regexp says %v", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789+-.eE x"
	for range 200000 {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got, want := validNumber(b), number.Match(b); got != want {
			t.Fatalf("validNumber(%q) = %v, regexp says %v", b, got, want)
		}
	}
}

func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", ".5", "1.", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validNumber(s), number.MatchString(s); got != want {
			t.Fatalf("validNumber(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

// TestSampleHashMatchesFNV pins sampleHash to FNV-1a from hash/fnv (the
// sample, and so the verify report, must not change with the rewrite).
func TestSampleHashMatchesFNV(t *testing.T) {
	t.Parallel()
	want := func(seed int64, isbn string) uint64 {
		h := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(seed))
		h.Write(b[:])
		h.Write([]byte(isbn))
		z := h.Sum64()
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 10000 {
		seed, isbn := int64(r.Uint64()), randomString(r)
		if i < 3 {
			seed = int64(i) - 1
		}
		if got, w := sampleHash(seed, isbn), want(seed, isbn); got != w {
			t.Fatalf("sampleHash(%d, %q) = %x, want %x", seed, isbn, got, w)
		}
		if got := sampleHash(seed, []byte(isbn)); got != want(seed, isbn) {
			t.Fatalf("sampleHash of bytes differs for %q", isbn)
		}
	}
}

func TestISBNSet(t *testing.T) {
	t.Parallel()
	var s isbnSet
	if s.has("x") {
		t.Error("empty set has x")
	}
	for i := range 20000 { // several 64 KB chunks
		s.add([]byte("isbn-" + strconv.Itoa(i*3)))
	}
	for i := range 60000 {
		if got := s.has("isbn-" + strconv.Itoa(i)); got != (i%3 == 0) {
			t.Fatalf("has(isbn-%d) = %v", i, got)
		}
	}
	s.add([]byte("late"))
	if !s.has("late") || s.has("") {
		t.Error("add after has")
	}
}

// TestFileVerifyReadsEachTableOnce verifies a committed run and counts
// the passes over each table.
func TestFileVerifyReadsEachTableOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tables := TablesWithPrefix("")
	tg := NewFileTarget(dir, tables)
	books, sims := genRun(isbnRange("o", 0, 40), 5)
	wrote, _ := writeRun(t, tg, "run1", books, sims, 16)
	if _, err := tg.Commit(t.Context(), "run1", wrote); err != nil {
		t.Fatal(err)
	}
	r := &fileReader{tables: tables, passes: map[string]int{}, files: map[string][]string{
		tables.Books:        {filepath.Join(dir, "Books.jsonl")},
		tables.Similarities: {filepath.Join(dir, "BookSimilarities.jsonl")},
	}}
	s, err := verify(t.Context(), r, tables, "run1", wrote, VerifyOptions{Sample: 10, Seed: 1})
	if err != nil || !s.Verified {
		t.Fatalf("verify: %v %s", err, s.Message)
	}
	if want := map[string]int{tables.Books: 1, tables.Similarities: 1}; !reflect.DeepEqual(r.passes, want) {
		t.Errorf("passes %v, want %v", r.passes, want)
	}
	if c, _ := s.Lookup(CheckSampleRanks); c.Detail != "10 books sampled (seed 1), 50 similarity rows" {
		t.Errorf("sample detail %q", c.Detail)
	}
}

// TestFileVerifySampleUnchanged pins the sample Verify draws (it depends
// only on the seed and the isbns, and the rewrite of the hash and of the
// scan must not move it) and the report it gives.
func TestFileVerifySampleUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tg := NewFileTarget(dir, TablesWithPrefix(""))
	books, sims := genRun(isbnRange("p", 0, 50), 3)
	sims[4].SimilarISBN = "gone"
	wrote, _ := writeRun(t, tg, "run1", books, sims, 50)
	r := &fileReader{tables: TablesWithPrefix(""), files: map[string][]string{
		"Books": {tg.partPath("run1", "Books", 0)}, "BookSimilarities": {tg.partPath("run1", "BookSimilarities", 0)},
	}}
	n, sample, err := r.scanBooks(t.Context(), "run1", 5, 42)
	if err != nil || n != 50 {
		t.Fatalf("scanBooks = %d, %v", n, err)
	}
	// The sample the code before the rewrite drew for these isbns and seed.
	if want := []string{"p000011", "p000005", "p000038", "p000009", "p000039"}; !reflect.DeepEqual(sample, want) {
		t.Errorf("sample %q, want %q", sample, want)
	}
	s, err := tg.Verify(t.Context(), "run1", wrote, VerifyOptions{Sample: 50, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Lookup(CheckSampleNeighborsExist); c.OK || c.Detail != `similar isbn "gone"` {
		t.Errorf("neighbours check %+v", c)
	}
}

// TestFileVerifyBadLineAnyWhere checks that a line that does not decode
// fails Verify wherever it is, in a sampled book's rows or not, in either
// table, naming file and line.
func TestFileVerifyBadLineAnyWhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table, line string
	}{
		{"BookSimilarities", `{"isbn":{"S":"zz"},"rank":{"N":"1e"},"run_id":{"S":"run1"}}`}, // not a sampled book
		{"BookSimilarities", `{"isbn":{"S":"q000001"},"rank":{"N":"x"},"run_id":{"S":"other"}}`},
		{"BookSimilarities", `{"isbn":{"S":"q000001"},"rank":{"S":"1"},"run_id":{"S":"run1"}}`}, // sampled: rank not a number
		{"Books", `{"isbn":{"S":"q"},"run_id":{"S":"run1"}`},
		{"Books", `not json`},
	} {
		dir := t.TempDir()
		tg := NewFileTarget(dir, TablesWithPrefix(""))
		books, sims := genRun(isbnRange("q", 0, 3), 2)
		wrote, _ := writeRun(t, tg, "run1", books, sims, 3)
		if _, err := tg.Commit(t.Context(), "run1", wrote); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tc.table+".jsonl")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(data, []byte("\n"))
		if err := os.WriteFile(path, append(data, tc.line+"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = tg.Verify(t.Context(), "run1", wrote, VerifyOptions{Sample: 3})
		if want := path + ":" + strconv.Itoa(lines+1); err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%s line %s: err = %v, want one naming %s", tc.table, tc.line, err, want)
		}
	}
}
