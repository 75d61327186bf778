package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/betterread/pipeline/shared/tasks"
)

// Target is where a run's two tables go: DynamoDB (DynamoTarget) or local
// JSON-lines files (FileTarget). A load is
//
//	Ensure → WritePart for every part (any order, any worker, repeatable)
//	       → Verify → Commit (only if verified)
//
// Verify reads this run's rows wherever they are, so it may also run after
// Commit. Items carry the run id in run_id; Commit removes every row of
// other runs.
type Target interface {
	// Ensure creates what the load writes into: the tables (on-demand
	// billing, waited for until ACTIVE) or the output directory. A table
	// that exists with another key schema is an error wrapping
	// ErrSchemaMismatch and is not touched.
	Ensure(ctx context.Context) error
	// WritePart writes one part of the run's rows. Writing the same part
	// again writes the same rows again, so a retried task is harmless.
	// Rows with empty keys, duplicate keys within the part, ranks below 1
	// or non-finite scores are rejected before anything is written.
	WritePart(ctx context.Context, runID string, part int, books []Book, sims []Similarity) (WriteStats, error)
	// Commit makes the run's rows the whole output: rows of other runs are
	// removed (DynamoDB) or the parts replace the files (files). written is
	// what the run wrote; Commit fails if the output does not hold exactly
	// that many rows of the run (DynamoTarget finds this out in the scan
	// that deletes, so other runs' rows are gone by then; FileTarget
	// changes nothing). It returns how many rows of other runs it removed.
	// Calling it again after it succeeded does nothing.
	Commit(ctx context.Context, runID string, written Counts) (deleted Counts, err error)
	// Verify reads the run's rows back and checks them (see VerifyOptions
	// and the Check… names). It returns an error only when it could not
	// read; failed checks are reported in the Summary.
	Verify(ctx context.Context, runID string, expected Counts, opts VerifyOptions) (Summary, error)
}

// Counts are rows per table.
type Counts struct {
	Books        int64 `json:"books"`
	Similarities int64 `json:"similarities"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Books += o.Books
	c.Similarities += o.Similarities
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// MinBooks and MinSimilarities are the fewest rows of the run each
	// table must hold (the seed's verify Lambda used 1000 and 10000; see
	// DefaultVerifyOptions). Zero means no minimum.
	MinBooks        int64
	MinSimilarities int64
	// Sample is how many of the run's books are read back with their
	// similarity rows and checked. 0 means 100; negative means none.
	Sample int
	// Seed picks the sample: the same seed and rows give the same sample
	// whatever the scan order.
	Seed int64
	// Segments is how many parallel scan segments count the rows. 0 means
	// the target's default (WriterOptions.Segments, or 4).
	Segments int
}

// DefaultSample is the sample size when VerifyOptions.Sample is 0.
const DefaultSample = 100

// DefaultVerifyOptions are the seed's thresholds and a 100-book sample.
func DefaultVerifyOptions() VerifyOptions {
	return VerifyOptions{MinBooks: 1000, MinSimilarities: 10000, Sample: DefaultSample, Seed: 1}
}

// Names of the checks Verify reports, in the order it reports them. The
// caller adds its own (such as "stages_succeeded") with Summary.AddCheck.
const (
	CheckBooksTable           = "books_table_exists"
	CheckSimilaritiesTable    = "similarities_table_exists"
	CheckBooksCount           = "books_count_matches"
	CheckSimilaritiesCount    = "similarities_count_matches"
	CheckMinBooks             = "min_books"
	CheckMinSimilarities      = "min_similarities"
	CheckSampleRanks          = "sample_ranks_contiguous"
	CheckSampleScoresOrdered  = "sample_scores_non_increasing"
	CheckSampleScoresFinite   = "sample_scores_finite"
	CheckSampleNoSelf         = "sample_no_self_neighbor"
	CheckSampleNeighborsExist = "sample_neighbors_in_books"
)

// Summary is the result of Verify, shaped like the seed's verify Lambda
// output:
//
//	{"verified":true,"checks":[{"name":"books_table_exists","ok":true,"detail":"..."},...],
//	 "table_counts":{"BookSimilarities":20000,"Books":1000},"message":"all 11 checks passed"}
type Summary struct {
	Verified    bool             `json:"verified"`
	Checks      []Check          `json:"checks"`
	TableCounts map[string]int64 `json:"table_counts"`
	Message     string           `json:"message"`
}

// Check is one named verification with what was found.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// AddCheck appends a check and updates Verified (true when there is at
// least one check and all passed) and Message.
func (s *Summary) AddCheck(name string, ok bool, detail string) {
	s.Checks = append(s.Checks, Check{Name: name, OK: ok, Detail: detail})
	s.update()
}

// Lookup returns the check named name.
func (s *Summary) Lookup(name string) (Check, bool) {
	for _, c := range s.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func (s *Summary) update() {
	var failed []string
	for _, c := range s.Checks {
		if !c.OK {
			failed = append(failed, c.Name+" ("+c.Detail+")")
		}
	}
	s.Verified = len(s.Checks) > 0 && len(failed) == 0
	if s.Verified {
		s.Message = fmt.Sprintf("all %d checks passed", len(s.Checks))
		return
	}
	s.Message = fmt.Sprintf("%d of %d checks failed: %s", len(failed), len(s.Checks), strings.Join(failed, "; "))
}

// Opener returns the output target a plan names. Endpoints and
// credentials come from the process's configuration, not the plan.
type Opener func(ctx context.Context, run string, spec tasks.TargetSpec) (Target, error)
