package dynamo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Suites run against more than one implementation: the batch writer
// against the fake and DynamoDB Local, the targets against files and
// DynamoDB Local.

// genRun makes a consistent run over isbns: every book's neighbors are the
// next top books (cyclically), scores falling with rank.
func genRun(isbns []string, top int) ([]Book, []Similarity) {
	top = min(top, len(isbns)-1)
	books := make([]Book, len(isbns))
	for i, isbn := range isbns {
		books[i] = Book{ISBN: isbn, Title: "Title " + isbn, Author: "Author " + isbn, Year: 1950 + i%70,
			Publisher: "Pub", ImageSmall: "http://img/s/" + isbn, ImageMedium: "http://img/m/" + isbn}
		if i%7 == 0 {
			books[i].Year = 0
			books[i].Publisher = ""
		}
	}
	var sims []Similarity
	for i, b := range books {
		for r := 1; r <= top; r++ {
			n := books[(i+r)%len(books)]
			sims = append(sims, Similarity{ISBN: b.ISBN, Rank: r, Title: b.Title, Author: b.Author,
				SimilarISBN: n.ISBN, SimilarTitle: n.Title, SimilarAuthor: n.Author, Score: 1 - float32(r)/float32(top+1)})
		}
	}
	return books, sims
}

func isbnRange(prefix string, from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("%s%06d", prefix, i))
	}
	return s
}

func countsOf(books []Book, sims []Similarity) Counts {
	return Counts{Books: int64(len(books)), Similarities: int64(len(sims))}
}

// writeRun writes books and sims in parts of partSize books (with their
// similarity rows) and returns what was written.
func writeRun(t *testing.T, tg Target, runID string, books []Book, sims []Similarity, partSize int) (Counts, WriteStats) {
	t.Helper()
	byISBN := map[string][]Similarity{}
	for _, s := range sims {
		byISBN[s.ISBN] = append(byISBN[s.ISBN], s)
	}
	var stats WriteStats
	for part, start := 0, 0; start < len(books); part, start = part+1, start+partSize {
		pb := books[start:min(start+partSize, len(books))]
		var ps []Similarity
		for _, b := range pb {
			ps = append(ps, byISBN[b.ISBN]...)
		}
		st, err := tg.WritePart(t.Context(), runID, part, pb, ps)
		if err != nil {
			t.Fatalf("write part %d: %v", part, err)
		}
		stats.Add(st)
	}
	return countsOf(books, sims), stats
}

func bookItems(runID string, books []Book) []map[string]types.AttributeValue {
	items := make([]map[string]types.AttributeValue, len(books))
	for i, b := range books {
		items[i] = oracleBookItem(runID, b)
	}
	return items
}

// writerEnv is a batch writer implementation under test.
type writerEnv struct {
	api   API
	table string // a Books-shaped table (key isbn S) that exists
	count func(t *testing.T, table string) int64
}

// testWriterConformance writes, rewrites and deletes 1000 items and reads
// the counts back.
func testWriterConformance(t *testing.T, env writerEnv) {
	ctx := t.Context()
	w := NewBatchWriter(env.api, WriterOptions{Concurrency: 3})
	books, _ := genRun(isbnRange("c", 0, 1000), 0)
	items := bookItems("run1", books)

	st, err := w.Put(ctx, env.table, items)
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 1000 || st.Batches != 40 {
		t.Errorf("put stats %+v, want 1000 items in 40 batches", st)
	}
	if n := env.count(t, env.table); n != 1000 {
		t.Errorf("count after put = %d, want 1000", n)
	}

	if _, err := w.Put(ctx, env.table, items); err != nil { // idempotent
		t.Fatal(err)
	}
	if n := env.count(t, env.table); n != 1000 {
		t.Errorf("count after second put = %d, want 1000", n)
	}

	keys := make([]map[string]types.AttributeValue, 0, 500)
	for _, b := range books[:500] {
		keys = append(keys, map[string]types.AttributeValue{AttrISBN: str(b.ISBN)})
	}
	keys = append(keys, map[string]types.AttributeValue{AttrISBN: str("not-there")})
	st, err = w.Delete(ctx, env.table, keys)
	if err != nil {
		t.Fatal(err)
	}
	if st.Items != 501 {
		t.Errorf("delete stats %+v, want 501 items", st)
	}
	if n := env.count(t, env.table); n != 500 {
		t.Errorf("count after delete = %d, want 500", n)
	}

	if _, err := w.Put(ctx, "NoSuchTable", items[:1]); err == nil || !strings.Contains(err.Error(), "NoSuchTable") {
		t.Errorf("put to a missing table: %v, want an error naming it", err)
	}
}

// testEnsure checks table creation against api; prefix keeps tables apart.
func testEnsure(t *testing.T, api API, prefix string) {
	ctx := t.Context()
	tables := TablesWithPrefix(prefix)
	tg := NewDynamoTarget(api, tables, WriterOptions{})
	if err := tg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{tables.Books, tables.Similarities} {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("describe %s: %v", name, err)
		}
		if out.Table.TableStatus != types.TableStatusActive {
			t.Errorf("%s is %s", name, out.Table.TableStatus)
		}
	}
	if err := tg.Ensure(ctx); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}

	// A Books table keyed by isbn and rank: wrong schema, left alone.
	wrong := TablesWithPrefix(prefix + "wrong-")
	bad := tableSchema{wrong.Books, []keyAttr{
		{AttrISBN, types.ScalarAttributeTypeS, types.KeyTypeHash},
		{AttrRank, types.ScalarAttributeTypeN, types.KeyTypeRange},
	}}
	if _, err := api.CreateTable(ctx, bad.createInput()); err != nil {
		t.Fatal(err)
	}
	err := NewDynamoTarget(api, wrong, WriterOptions{}).Ensure(ctx)
	if !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), wrong.Books) {
		t.Fatalf("Ensure over a wrong schema: %v, want ErrSchemaMismatch naming %s", err, wrong.Books)
	}
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(wrong.Books)})
	if err != nil || len(out.Table.KeySchema) != 2 {
		t.Errorf("wrong-schema table changed: %v %+v", err, out)
	}
	if err := NewDynamoTarget(api, Tables{Books: "x", Similarities: "y"}, WriterOptions{}).Ensure(ctx); err == nil {
		t.Error("Ensure with invalid table names: no error")
	}
}

// targetEnv is a target under test and a way to read its whole output.
type targetEnv struct {
	target Target
	// dump returns every row in the output, keyed "isbn" (books) or
	// "isbn#rank" (similarities), with its run id.
	dump func(t *testing.T) (books, sims map[string]string)
	// deletedOnCommitB is what Commit of run B reports in
	// testCommitRemovesStale (targets count replaced rows differently).
	deletedOnCommitB Counts
}

// testCommitRemovesStale writes run A (books a,b,c; 2 neighbors each),
// commits it, then run B (b,c,d; 1 neighbor each) and commits B: only B's
// rows remain.
func testCommitRemovesStale(t *testing.T, env targetEnv) {
	ctx := t.Context()
	tg := env.target
	if err := tg.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	booksA, simsA := genRun([]string{"a", "b", "c"}, 2)
	wroteA, _ := writeRun(t, tg, "runA", booksA, simsA, 2)
	opts := VerifyOptions{Sample: 10}
	if s, err := tg.Verify(ctx, "runA", wroteA, opts); err != nil || !s.Verified {
		t.Fatalf("verify A: %v %s", err, s.Message)
	}
	if del, err := tg.Commit(ctx, "runA", wroteA); err != nil || del != (Counts{}) {
		t.Fatalf("commit A: deleted %+v, %v", del, err)
	}

	booksB, simsB := genRun([]string{"b", "c", "d"}, 1)
	wroteB, _ := writeRun(t, tg, "runB", booksB, simsB, 1)
	s, err := tg.Verify(ctx, "runB", wroteB, opts)
	if err != nil || !s.Verified {
		t.Fatalf("verify B before commit: %v %s", err, s.Message)
	}
	del, err := tg.Commit(ctx, "runB", wroteB)
	if err != nil {
		t.Fatalf("commit B: %v", err)
	}
	if del != env.deletedOnCommitB {
		t.Errorf("commit B deleted %+v, want %+v", del, env.deletedOnCommitB)
	}
	books, sims := env.dump(t)
	wantBooks := map[string]string{"b": "runB", "c": "runB", "d": "runB"}
	wantSims := map[string]string{"b#1": "runB", "c#1": "runB", "d#1": "runB"}
	if fmt.Sprint(books) != fmt.Sprint(wantBooks) || fmt.Sprint(sims) != fmt.Sprint(wantSims) {
		t.Errorf("after commit B:\nbooks %v\nsims  %v\nwant  %v\n      %v", books, sims, wantBooks, wantSims)
	}
	if s, err := tg.Verify(ctx, "runB", wroteB, opts); err != nil || !s.Verified {
		t.Errorf("verify B after commit: %v %s", err, s.Message)
	}
	if del, err := tg.Commit(ctx, "runB", wroteB); err != nil || del != (Counts{}) {
		t.Errorf("second commit of B: deleted %+v, %v", del, err)
	}
	if _, err := tg.Commit(ctx, "runB", Counts{Books: 3, Similarities: 4}); err == nil {
		t.Error("commit B with wrong written counts: no error")
	}
	if s, err := tg.Verify(ctx, "runA", wroteA, opts); err != nil || s.Verified {
		t.Errorf("verify of the replaced run A: %v, verified=%v", err, s.Verified)
	}
}

// testVerifyCatches writes a run with one defect per case and checks that
// Verify reports exactly the check that should fail. newTarget returns a
// fresh, ensured target per case.
func testVerifyCatches(t *testing.T, newTarget func(t *testing.T) Target) {
	isbns := isbnRange("v", 0, 30)
	tests := []struct {
		name   string
		mutate func(books []Book, sims []Similarity) ([]Book, []Similarity)
		adjust func(c *Counts, o *VerifyOptions) // the caller's expectations
		failed []string                          // checks that must fail; all others pass
	}{
		{name: "good run"},
		{
			name: "missing rank",
			mutate: func(b []Book, s []Similarity) ([]Book, []Similarity) {
				return b, append(s[:2:2], s[3:]...) // book 0 loses rank 3
			},
			failed: []string{CheckSampleRanks},
		},
		{
			name: "increasing scores",
			mutate: func(b []Book, s []Similarity) ([]Book, []Similarity) {
				s[5].Score, s[6].Score = s[6].Score, s[5].Score // book 1, ranks 1 and 2
				return b, s
			},
			failed: []string{CheckSampleScoresOrdered},
		},
		{
			name: "neighbor not in books",
			mutate: func(b []Book, s []Similarity) ([]Book, []Similarity) {
				s[7].SimilarISBN = "not-a-book"
				return b, s
			},
			failed: []string{CheckSampleNeighborsExist},
		},
		{
			name: "self neighbor",
			mutate: func(b []Book, s []Similarity) ([]Book, []Similarity) {
				s[0].SimilarISBN = s[0].ISBN
				return b, s
			},
			failed: []string{CheckSampleNoSelf},
		},
		{
			name:   "books count mismatch",
			adjust: func(c *Counts, _ *VerifyOptions) { c.Books++ },
			failed: []string{CheckBooksCount},
		},
		{
			name:   "similarities count mismatch",
			adjust: func(c *Counts, _ *VerifyOptions) { c.Similarities-- },
			failed: []string{CheckSimilaritiesCount},
		},
		{
			name:   "below minimums",
			adjust: func(_ *Counts, o *VerifyOptions) { o.MinBooks, o.MinSimilarities = 31, 151 },
			failed: []string{CheckMinBooks, CheckMinSimilarities},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			books, sims := genRun(isbns, 5)
			if tt.mutate != nil {
				books, sims = tt.mutate(books, sims)
			}
			wrote, _ := writeRun(t, tg, "runV", books, sims, 8)
			opts := VerifyOptions{MinBooks: 30, MinSimilarities: 140, Sample: 1000, Seed: 3, Segments: 3}
			if tt.adjust != nil {
				tt.adjust(&wrote, &opts)
			}
			s, err := tg.Verify(t.Context(), "runV", wrote, opts)
			if err != nil {
				t.Fatal(err)
			}
			failed := map[string]bool{}
			for _, name := range tt.failed {
				failed[name] = true
			}
			if len(s.Checks) != 11 {
				t.Errorf("%d checks, want 11: %+v", len(s.Checks), s.Checks)
			}
			for _, c := range s.Checks {
				if c.OK == failed[c.Name] {
					t.Errorf("check %s ok=%v (%s)", c.Name, c.OK, c.Detail)
				}
			}
			if s.Verified != (len(tt.failed) == 0) {
				t.Errorf("verified=%v: %s", s.Verified, s.Message)
			}
		})
	}
}

func simKey(isbn string, rank int) string { return isbn + "#" + strconv.Itoa(rank) }
