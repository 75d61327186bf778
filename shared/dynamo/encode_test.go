package dynamo

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// awkward are strings the encoders must treat exactly as the oracle does:
// JSON escapes, HTML characters, the JavaScript line separators, invalid
// UTF-8 of every kind (lone bytes, runs, truncated and overlong sequences,
// surrogates) next to valid multi-byte text and U+FFFD itself.
var awkward = []string{
	"", "plain", `"quoted"`, `back\slash`, `\"`, "<b>&amp;</b>", "a\u2028b\u2029c", "\u2028",
	"\x00", "\x01\x02\x1f", "\b\f\n\r\t", "\x7f", "tab\there", "Søren Walker", "日本語", "\U0001F600",
	"\xff", "caf\xe9", "caf\xe9\xe9x", "\xe9\u2028\xe9", "\xed\xa0\x80", "\xc0\x80", "\xf0\x9f\x98", "\xf0\x9f\x98\x80\xf0",
	"\xef\xbf\xbd", "\xef\xbf\xbd\xff", "x\x80\x80\x80y", "\xe2\x80", "\xe2\x80\xa8\xe2\x80", "</script>",
	strings.Repeat("long \"text\" ", 40) + "\xff" + strings.Repeat("é", 30),
}

// awkwardScores are the float32 values whose formatting is easiest to get
// wrong: zeros, extremes, subnormals, values near powers of ten.
var awkwardScores = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 1.0 / 3, 2.0 / 3, 0.99999994, 1.0000001, -0.25, 1e-7, 1e-6, 1e-5,
	1e20, 1e21, 123456789, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1.17549435e-38, 0.3,
	float32(math.Nextafter32(1, 0)), float32(math.Nextafter32(0.5, 1)),
}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(4) {
		if r.IntN(3) == 0 {
			b.WriteByte(byte(r.IntN(256))) // any byte, valid or not
		}
		b.WriteString(awkward[r.IntN(len(awkward))])
	}
	return b.String()
}

func randomScore(r *rand.Rand) float32 {
	switch r.IntN(3) {
	case 0:
		return awkwardScores[r.IntN(len(awkwardScores))]
	case 1:
		return r.Float32()*2 - 1
	}
	for { // any finite bit pattern
		if f := math.Float32frombits(r.Uint32()); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
			return f
		}
	}
}

func randomInt(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return r.IntN(3) - 1 // -1, 0, 1
	case 1:
		return 1 + r.IntN(20)
	case 2:
		return 1800 + r.IntN(300)
	}
	return int(r.Int64()) - math.MaxInt64/2
}

func randomBook(r *rand.Rand) Book {
	return Book{ISBN: randomString(r), Title: randomString(r), Author: randomString(r), Year: randomInt(r),
		Publisher: randomString(r), ImageSmall: randomString(r), ImageMedium: randomString(r)}
}

func randomSimilarity(r *rand.Rand) Similarity {
	return Similarity{ISBN: randomString(r), Rank: randomInt(r), Title: randomString(r), Author: randomString(r),
		SimilarISBN: randomString(r), SimilarTitle: randomString(r), SimilarAuthor: randomString(r), Score: randomScore(r)}
}

// checkBook checks every new path for b against the oracle: the JSON line
// byte for byte, and the attribute values refilled into a (which holds
// an earlier book's) value for value.
func checkBook(t *testing.T, runID string, b Book, a *bookAttrs) {
	t.Helper()
	want, err := marshalItemJSON(oracleBookItem(runID, b))
	if err != nil {
		t.Fatalf("oracle on %#v: %v", b, err)
	}
	if got := appendBookJSON([]byte("prefix"), runID, b); !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("book %#v\ngot  %q\nwant %q", b, got[len("prefix"):], want)
	}
	a.set(runID, b)
	if oracle := oracleBookItem(runID, b); !reflect.DeepEqual(a.attrs, oracle) {
		t.Fatalf("book %#v\nattrs  %#v\noracle %#v", b, a.attrs, oracle)
	}
}

func checkSimilarity(t *testing.T, runID string, s Similarity, a *simAttrs) {
	t.Helper()
	want, err := marshalItemJSON(oracleSimilarityItem(runID, s))
	if err != nil {
		t.Fatalf("oracle on %#v: %v", s, err)
	}
	if got := appendSimilarityJSON([]byte("prefix"), runID, s); !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("similarity %#v\ngot  %q\nwant %q", s, got[len("prefix"):], want)
	}
	a.set(runID, s)
	if oracle := oracleSimilarityItem(runID, s); !reflect.DeepEqual(a.attrs, oracle) {
		t.Fatalf("similarity %#v\nattrs  %#v\noracle %#v", s, a.attrs, oracle)
	}
}

func TestEncodersMatchOracle(t *testing.T) {
	t.Parallel()
	ba, sa := newBookAttrs(), newSimAttrs()
	// Every awkward string in every field, alone.
	for _, s := range awkward {
		for field := range 7 {
			var b Book
			for i, p := range []*string{&b.ISBN, &b.Title, &b.Author, &b.Publisher, &b.ImageSmall, &b.ImageMedium} {
				if i == field {
					*p = s
				}
			}
			b.Year = field - 1 // -1, 0 (omitted), 1, ...
			checkBook(t, "run-1", b, ba)
			sim := Similarity{Rank: field + 1, Score: awkwardScores[field]}
			for i, p := range []*string{&sim.ISBN, &sim.Title, &sim.Author, &sim.SimilarISBN, &sim.SimilarTitle, &sim.SimilarAuthor} {
				if i == field {
					*p = s
				}
			}
			checkSimilarity(t, "run-1", sim, sa)
		}
		checkBook(t, s, Book{}, ba) // the run id too
		checkSimilarity(t, s, Similarity{}, sa)
	}
	for _, f := range awkwardScores {
		checkSimilarity(t, "r", Similarity{Score: f}, sa)
	}
	// Random items of awkward pieces, and random scores of every kind.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkBook(t, "r1", randomBook(r), ba)
		checkSimilarity(t, "r1", randomSimilarity(r), sa)
	}
	for range 200000 {
		f := randomScore(r)
		if got, want := string(appendScore(nil, f)), formatScore(f); got != want {
			t.Fatalf("appendScore(%v) = %q, want %q", f, got, want)
		}
	}
}

func FuzzEncodersMatchOracle(f *testing.F) {
	f.Add("run-1", "0195153448", "Classical \"Mythology\"", "Mark P. O. Morford", "Oxford <&>", "http://s/1.jpg", "\u2028\xff", 2002, 3, uint32(0x3dcccccd))
	f.Add("r", "", "", "", "", "", "", 0, 1, uint32(0))
	f.Add("\xe9", "\x00\x1f", "\xed\xa0\x80", "\xf0\x9f\x98", "\\", "\x7f", "\xef\xbf\xbd", -1, 20, uint32(0x80000000))
	f.Fuzz(func(t *testing.T, runID, isbn, title, author, publisher, image, similar string, year, rank int, scoreBits uint32) {
		score := math.Float32frombits(scoreBits)
		if math.IsNaN(float64(score)) || math.IsInf(float64(score), 0) {
			return // validatePart rejects these before any encoding
		}
		checkBook(t, runID, Book{ISBN: isbn, Title: title, Author: author, Year: year,
			Publisher: publisher, ImageSmall: image, ImageMedium: similar}, newBookAttrs())
		checkSimilarity(t, runID, Similarity{ISBN: isbn, Rank: rank, Title: title, Author: author,
			SimilarISBN: similar, SimilarTitle: publisher, SimilarAuthor: image, Score: score}, newSimAttrs())
	})
}

// TestEncodersDoNotAllocate pins what the benchmarks measure: a line
// appended into a buffer with room, and attribute values refilled, cost
// no allocation (for a rank below 100 and a valid UTF-8 row; the score's
// digits are the one string a similarity item allocates).
func TestEncodersDoNotAllocate(t *testing.T) {
	books, sims := genRun(isbnRange("a", 0, 30), 20)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		buf = appendBookJSON(buf[:0], "run-1", books[1])
		buf = appendSimilarityJSON(buf[:0], "run-1", sims[1])
	}); n != 0 {
		t.Errorf("JSON encoders: %v allocations per row, want 0", n)
	}
	ba, sa := newBookAttrs(), newSimAttrs()
	if n := testing.AllocsPerRun(100, func() {
		ba.set("run-1", books[0]) // year 0: no digits to allocate
		sa.set("run-1", sims[1])
	}); n > 1 {
		t.Errorf("attribute values: %v allocations per book and row, want at most 1 (the score)", n)
	}
}

// awkwardRun is a valid part (unique non-empty keys, finite scores) of n
// books with top neighbours each, every other string awkward.
func awkwardRun(n, top int) ([]Book, []Similarity) {
	r := rand.New(rand.NewPCG(5, 6))
	books := make([]Book, n)
	for i := range books {
		books[i] = randomBook(r)
		books[i].ISBN = fmt.Sprintf("%06d|%s", i, books[i].ISBN)
	}
	var sims []Similarity
	for i, b := range books {
		for rank := 1; rank <= top; rank++ {
			s := randomSimilarity(r)
			s.ISBN, s.Rank, s.SimilarISBN = b.ISBN, rank, books[(i+rank)%n].ISBN
			sims = append(sims, s)
		}
	}
	return books, sims
}

// TestFileTargetWritesOracleBytes checks the part files WritePart writes
// and the table files Commit makes against the oracle's lines.
func TestFileTargetWritesOracleBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tables := TablesWithPrefix("")
	tg := NewFileTarget(dir, tables)
	books, sims := awkwardRun(300, 7)
	if _, err := tg.WritePart(t.Context(), "run-1", 0, books, sims); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Commit(t.Context(), "run-1", countsOf(books, sims)); err != nil {
		t.Fatal(err)
	}
	var wantBooks, wantSims bytes.Buffer
	for _, b := range books {
		line, err := marshalItemJSON(oracleBookItem("run-1", b))
		if err != nil {
			t.Fatal(err)
		}
		wantBooks.Write(append(line, '\n'))
	}
	for _, s := range sims {
		line, err := marshalItemJSON(oracleSimilarityItem("run-1", s))
		if err != nil {
			t.Fatal(err)
		}
		wantSims.Write(append(line, '\n'))
	}
	for table, want := range map[string][]byte{tables.Books: wantBooks.Bytes(), tables.Similarities: wantSims.Bytes()} {
		got, err := os.ReadFile(filepath.Join(dir, table+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
			for i := range min(len(gl), len(wl)) {
				if !bytes.Equal(gl[i], wl[i]) {
					t.Fatalf("%s line %d\ngot  %q\nwant %q", table, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("%s: %d lines, want %d", table, len(gl), len(wl))
		}
	}
}

// TestDynamoTargetSendsOracleItems checks the items DynamoTarget sends
// (through a fake that copies them as it receives them, with some held
// back as unprocessed so that batches are retried and slots reused)
// against the oracle's item maps.
func TestDynamoTargetSendsOracleItems(t *testing.T) {
	t.Parallel()
	db := newFakeDB()
	db.hold = func(n int) int { return n / 4 }
	tables := TablesWithPrefix("")
	tg := NewDynamoTarget(db, tables, WriterOptions{Concurrency: 3, BaseBackoff: time.Microsecond, MaxBackoff: time.Microsecond})
	if err := tg.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	books, sims := awkwardRun(300, 7)
	st, err := tg.WritePart(t.Context(), "run-1", 0, books, sims)
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != int64(len(books)+len(sims)) || st.UnprocessedRetries == 0 {
		t.Fatalf("stats %+v: want every item written, some after a retry", st)
	}
	check := func(table string, want map[string]types.AttributeValue) {
		t.Helper()
		k, err := db.tables[table].key(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.tables[table].items[k]; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s item %q\ngot  %#v\nwant %#v", table, k, got, want)
		}
	}
	for _, b := range books {
		check(tables.Books, oracleBookItem("run-1", b))
	}
	for _, s := range sims {
		check(tables.Similarities, oracleSimilarityItem("run-1", s))
	}
	if n := db.count(tables.Books) + db.count(tables.Similarities); n != st.Items {
		t.Errorf("%d items stored, %d written", n, st.Items)
	}
}
