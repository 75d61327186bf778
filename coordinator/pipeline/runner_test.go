package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A run stored by a coordinator on another machine names that machine's
// paths: the validate stage says which path, on which host, and why.
func TestCheckLocalInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	books := filepath.Join(dir, "Books.csv")
	if err := os.WriteFile(books, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "elsewhere", "Ratings.csv")
	err := checkLocalInputs(tasks.Plan{Books: books, Ratings: missing})
	host, _ := os.Hostname()
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), host) ||
		!strings.Contains(err.Error(), "use s3://") || strings.Contains(err.Error(), books) {
		t.Fatalf("checkLocalInputs = %v, want the missing path, host %s and the s3:// advice", err, host)
	}
	if err := checkLocalInputs(tasks.Plan{Books: books, Ratings: "s3://bucket/Ratings.csv"}); err != nil {
		t.Errorf("s3:// inputs are not local: %v", err)
	}
}

func TestPermanentBySentinel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("validate: %w", ErrBadInput), true},
		{fmt.Errorf("verify: %w", ErrNotVerified), true},
		{fmt.Errorf("train: task x: %w", errBlockFailed), true},
		{errors.New("task x failed after 5 retries"), false}, // text alone decides nothing
		{errors.New("write runs/x: connection reset"), false},
	} {
		if got := permanent(c.err); got != c.want {
			t.Errorf("permanent(%q) = %v, want %v", c.err, got, c.want)
		}
	}
}

// Prepare counts duplicate and conflicting (user, isbn) ratings, and
// every one of them trains.
func TestPrepareCountsDuplicates(t *testing.T) {
	t.Parallel()
	st, err := store.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plan := tasks.Plan{Run: "r-dups", Books: "../../testdata/tiny/Books.csv", Ratings: "../../testdata/bad/ratings-duplicates.csv", BlockRows: 8,
		Prepare: tasks.PrepareParams{MinUserRatings: 1, MinBookRatings: 1, TestFraction: 0}}
	_, p, err := Prepare(t.Context(), runstore.Open(st, plan.Run), plan)
	if err != nil {
		t.Fatal(err)
	}
	if p.Counts.DuplicateRatings != 3 || p.Counts.ConflictingRatings != 1 {
		t.Errorf("duplicates %d, conflicting %d; want 3 and 1 (testdata/README.md)", p.Counts.DuplicateRatings, p.Counts.ConflictingRatings)
	}
	if p.Counts.Ratings != p.Counts.RatingsRead-sum(p.Counts.RatingsDropped) {
		t.Errorf("%d ratings kept of %d read, %d dropped: duplicates must all train", p.Counts.Ratings, p.Counts.RatingsRead, sum(p.Counts.RatingsDropped))
	}
}
