package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/betterread/pipeline/shared/buildinfo"
	"github.com/betterread/pipeline/shared/dataset"
)

// env is a test environment: nothing from the real environment leaks in.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runOK runs `coordinator run` in process and fails the test unless it
// exits 0.
func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := runCommand(t.Context(), append(args, "--progress", "log", "--log-format", "json"), env(nil), &out, &errb); err != nil {
		t.Fatalf("coordinator run %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), tail(errb.String(), 4000))
	}
	return out.String(), errb.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

type item map[string]map[string]string

func readItems(t *testing.T, path string) []item {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return items
}

// checkTables asserts what a front end needs of the two tables.
func checkTables(t *testing.T, dir string, top int) (books, sims []item) {
	t.Helper()
	books = readItems(t, filepath.Join(dir, "Books.jsonl"))
	sims = readItems(t, filepath.Join(dir, "BookSimilarities.jsonl"))
	checkItems(t, books, sims, top)
	return books, sims
}

// checkItems asserts what a front end needs of the two tables' items.
// Similarity rows must come in (isbn, rank) order.
func checkItems(t *testing.T, books, sims []item, top int) {
	t.Helper()
	inBooks := map[string]bool{}
	for _, b := range books {
		isbn := b["isbn"]["S"]
		if isbn == "" || inBooks[isbn] {
			t.Fatalf("book %q empty or duplicated", isbn)
		}
		inBooks[isbn] = true
	}
	byBook := map[string][]item{}
	for _, s := range sims {
		byBook[s["isbn"]["S"]] = append(byBook[s["isbn"]["S"]], s)
	}
	want := min(top, len(books)-1)
	for isbn := range inBooks {
		rows := byBook[isbn]
		if len(rows) != want {
			t.Fatalf("book %s has %d neighbours, want min(%d, %d-1) = %d", isbn, len(rows), top, len(books), want)
		}
		prev := math.Inf(1)
		for i, r := range rows {
			rank, _ := strconv.Atoi(r["rank"]["N"])
			if rank != i+1 {
				t.Fatalf("book %s: row %d has rank %d (ranks must be 1..n in order)", isbn, i, rank)
			}
			sim := r["similar_isbn"]["S"]
			if sim == isbn {
				t.Fatalf("book %s is its own neighbour", isbn)
			}
			if !inBooks[sim] {
				t.Fatalf("book %s: neighbour %s is not in Books", isbn, sim)
			}
			score, err := strconv.ParseFloat(r["similarity_score"]["N"], 64)
			if err != nil || math.IsNaN(score) || score > prev+1e-9 || score < -1.0001 || score > 1.0001 {
				t.Fatalf("book %s rank %d: score %q after %v", isbn, rank, r["similarity_score"]["N"], prev)
			}
			prev = score
		}
	}
	for isbn := range byBook {
		if !inBooks[isbn] {
			t.Fatalf("similarities for %s, which is not in Books", isbn)
		}
	}
}

func TestRunTinyFixture(t *testing.T) {
	out := t.TempDir()
	stdout, _ := runOK(t, "--books", "../testdata/tiny/Books.csv", "--ratings", "../testdata/tiny/Ratings.csv",
		"--out", out, "--min-books", "1", "--min-similarities", "1", "--workers", "2", "--block-rows", "7")
	for _, want := range []string{"verified=true", "rmse: train", "most similar to"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	books, _ := checkTables(t, out, 20)
	// coordinator status --out shows the local run, with its attempt.
	var so, se bytes.Buffer
	if err := statusCommand(t.Context(), []string{"--out", out}, env(nil), &so, &se); err != nil {
		t.Fatalf("status --out: %v\n%s", err, se.String())
	}
	if s := so.String(); !strings.Contains(s, "succeeded") || !strings.Contains(s, "attempts:") || !strings.Contains(s, " cli ") {
		t.Errorf("status --out does not show the run and its attempt:\n%s", s)
	}
	var rep struct {
		RunID   string `json:"run_id"`
		Version string `json:"version"`
		Status  string `json:"status"`
		Stages  map[string]struct {
			Status  string  `json:"status"`
			Seconds float64 `json:"seconds"`
		} `json:"stages"`
		Counts map[string]any     `json:"counts"`
		RMSE   map[string]float64 `json:"rmse"`
		Tables map[string]int64   `json:"tables"`
		Verify struct {
			Verified bool           `json:"verified"`
			Checks   any            `json:"checks"`
			Message  string         `json:"message"`
			Counts   map[string]any `json:"table_counts"`
		} `json:"verify"`
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RunID == "" || rep.Status != "succeeded" || !rep.Verify.Verified {
		t.Fatalf("report: run %q status %q verified %v: %s", rep.RunID, rep.Status, rep.Verify.Verified, rep.Verify.Message)
	}
	if want := buildinfo.Read().String(); rep.Version != want {
		t.Errorf("report version %q, want the build's %q", rep.Version, want)
	}
	if !strings.Contains(stdout, "block store "+filepath.Join(out, ".blocks")+" kept so that a rerun resumes") {
		t.Errorf("summary does not say the block store is kept:\n%s", stdout)
	}
	for _, s := range []string{"validate", "prepare", "train", "similarity", "load", "verify"} {
		if rep.Stages[s].Status != "succeeded" {
			t.Errorf("stage %s: %+v", s, rep.Stages[s])
		}
	}
	for _, k := range []string{"ratings_read", "ratings_dropped", "users", "books", "ratings_train", "ratings_test", "test_dropped_cold_start", "books_without_metadata"} {
		if _, ok := rep.Counts[k]; !ok {
			t.Errorf("report counts lack %s", k)
		}
	}
	if rep.Tables["Books"] != int64(len(books)) {
		t.Errorf("report says %d books written, table has %d", rep.Tables["Books"], len(books))
	}
	if !(rep.RMSE["train"] > 0 && rep.RMSE["test"] > 0) {
		t.Errorf("rmse %v", rep.RMSE)
	}
	// Books with ratings but no metadata take part in training but never
	// appear in the tables.
	if n, _ := rep.Counts["books_without_metadata"].(float64); n == 0 {
		t.Errorf("the tiny fixture rates books missing from Books.csv; report counts none")
	}
}

// generate writes a small synthetic data set with planted groups.
func generate(t *testing.T, p dataset.GenParams) (books, ratings string) {
	t.Helper()
	dir := t.TempDir()
	books, ratings = filepath.Join(dir, "Books.csv"), filepath.Join(dir, "Ratings.csv")
	var bb, rb bytes.Buffer
	if _, err := dataset.Generate(t.Context(), p, &bb, &rb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(books, bb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ratings, rb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return books, ratings
}

func smallShape() dataset.GenParams {
	p := dataset.DefaultGenParams()
	p.Users, p.Books, p.Ratings, p.Groups, p.Seed = 3000, 2000, 60000, 8, 7
	return p
}

// The same input and seed give byte-identical tables whatever the number
// of workers and the block size.
func TestDeterministicAcrossLayouts(t *testing.T) {
	books, ratings := generate(t, smallShape())
	var first string
	for i, layout := range []struct{ workers, blockRows string }{{"1", "4096"}, {"2", "97"}, {"3", "500"}} {
		out := t.TempDir()
		runOK(t, "--books", books, "--ratings", ratings, "--out", out, "--workers", layout.workers, "--block-rows", layout.blockRows,
			"--min-books", "10", "--min-similarities", "100", "--iterations", "5")
		if i == 0 {
			first = out
			continue
		}
		sameTables(t, first, out)
	}
}

// Books in planted latent groups: most neighbours share the book's group.
func TestNeighboursShareGroups(t *testing.T) {
	books, ratings := generate(t, smallShape())
	out := t.TempDir()
	runOK(t, "--books", books, "--ratings", ratings, "--out", out, "--min-books", "10", "--min-similarities", "100")
	bs, sims := checkTables(t, out, 20)
	group := map[string]int{}
	for _, b := range bs {
		g, ok := dataset.GroupOf(b["publisher"]["S"])
		if !ok {
			t.Fatalf("publisher %q carries no group", b["publisher"]["S"])
		}
		group[b["isbn"]["S"]] = g
	}
	same := 0
	for _, s := range sims {
		if group[s["isbn"]["S"]] == group[s["similar_isbn"]["S"]] {
			same++
		}
	}
	share := float64(same) / float64(len(sims))
	t.Logf("%d of %d neighbours share the planted group (%.1f%%)", same, len(sims), 100*share)
	if share < 0.6 {
		t.Fatalf("only %.1f%% of neighbours share their book's planted group; want ≥ 60%%", 100*share)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodBooks := "../testdata/tiny/Books.csv"
	goodRatings := "../testdata/tiny/Ratings.csv"
	cases := []struct {
		name           string
		books, ratings string
		want           string
	}{
		{"missing ratings", goodBooks, filepath.Join(dir, "nope.csv"), "Ratings.csv " + filepath.Join(dir, "nope.csv") + ": no such file"},
		{"wrong header", goodBooks, write("wrong.csv", "user,book,score\n"+strings.Repeat("1,2,3\n", 40)), "Ratings.csv"},
		{"too small", write("small.csv", "ISBN\n"), goodRatings, "under the minimum"},
		{"empty", goodBooks, write("empty.csv", ""), "Ratings.csv"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			var so, se bytes.Buffer
			err := runCommand(t.Context(), []string{"--books", c.books, "--ratings", c.ratings, "--out", out, "--progress", "off"}, env(nil), &so, &se)
			if err == nil {
				t.Fatal("run succeeded on bad input")
			}
			msg := err.Error() + so.String()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error does not mention %q:\n%v\n%s", c.want, err, so.String())
			}
			if _, err := os.Stat(filepath.Join(out, "Books.jsonl")); err == nil {
				t.Fatal("a failed run wrote tables")
			}
		})
	}
}

func TestConfigErrorsReportedTogether(t *testing.T) {
	var so, se bytes.Buffer
	err := runCommand(t.Context(), []string{"--rank", "0", "--block-rows", "0", "--test-fraction", "2"}, env(map[string]string{"BETTERREAD_TOP": "x"}), &so, &se)
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"--books is required", "--block-rows 0", "--test-fraction 2", "BETTERREAD_TOP", "rank"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("configuration error lacks %q:\n%v", want, err)
		}
	}
}

var _ = fmt.Sprint

// A mistyped flag gets one line naming the nearest flag, not all of them.
func TestMistypedFlag(t *testing.T) {
	var so, se bytes.Buffer
	err := runCommand(t.Context(), []string{"--blok-rows", "5"}, env(nil), &so, &se)
	if err == nil || !strings.Contains(err.Error(), "did you mean --block-rows?") || !strings.Contains(err.Error(), "-h for all flags") {
		t.Fatalf("error %v: want the nearest flag and the -h hint", err)
	}
	if exitCode(err) != 2 {
		t.Errorf("exit code %d, want 2 (usage)", exitCode(err))
	}
	if se.Len() > 0 {
		t.Errorf("a mistyped flag printed the usage:\n%s", se.String())
	}
}
