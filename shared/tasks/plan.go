package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/similarity"
)

// PlanVersion is bumped when Plan or the stored blocks change shape (2:
// blocks carry a checksum trailer; 3: similarity by pairs of groups, with
// partial top lists); workers reject plans they do not understand.
const PlanVersion = 3

// Plan is everything a run needs to be carried out by any coordinator and
// worker: inputs, algorithm parameters, block layout and output target. It
// is written to the block store before the run is enqueued and never
// changes afterwards. It holds no secrets.
type Plan struct {
	Version    int               `json:"version"`
	Run        string            `json:"run"`
	Books      string            `json:"books"`   // path or s3:// URL of Books.csv
	Ratings    string            `json:"ratings"` // path or s3:// URL of Ratings.csv
	Prepare    PrepareParams     `json:"prepare"`
	ALS        als.Params        `json:"als"`
	Similarity similarity.Params `json:"similarity"`
	// BlockRows is the number of rows (users, books, or query books) per
	// block task. It changes how work is split, never the result.
	BlockRows int          `json:"block_rows"`
	Target    TargetSpec   `json:"target"`
	Verify    VerifyParams `json:"verify"`
	// Gen changes each time the plan is written anew (a new run, --fresh,
	// or changed parameters that keep the run id, such as the block size):
	// workers drop what they cached of an earlier generation, and refuse
	// tasks of one.
	Gen string `json:"gen,omitempty"`
	// Retries is how often a failing block task is retried before the run
	// fails; nil means BlockMaxRetry.
	Retries *int `json:"retries,omitempty"`
}

// TaskRetries is how often a failing block task is retried.
func (p Plan) TaskRetries() int {
	if p.Retries == nil {
		return BlockMaxRetry
	}
	return *p.Retries
}

// PrepareParams are the filtering and split parameters of the prepare stage.
type PrepareParams struct {
	MinUserRatings int     `json:"min_user_ratings"` // users need at least this many explicit ratings
	MinBookRatings int     `json:"min_book_ratings"` // then books need at least this many
	TestFraction   float64 `json:"test_fraction"`    // share of ratings held out for the test RMSE
	Seed           int64   `json:"seed"`             // seeds the split hash
}

// TargetSpec says where the two output tables go.
type TargetSpec struct {
	Kind string `json:"kind"` // "files" or "dynamodb"
	// Dir is the output directory of a files target.
	Dir string `json:"dir,omitempty"`
	// Endpoint overrides the DynamoDB endpoint (DynamoDB Local); empty means
	// AWS's regional endpoint. Region is the AWS region.
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// Table names.
	BooksTable        string `json:"books_table"`
	SimilaritiesTable string `json:"similarities_table"`
	// WriteRate bounds the items per second each worker process writes,
	// over all its load tasks; 0 is unlimited.
	WriteRate float64 `json:"write_rate,omitempty"`
	// WriteDeadline is how long, in seconds, one batch of a load task may
	// keep being retried (throttling, unprocessed items, timeouts) before
	// the task fails; 0 means DefaultWriteDeadline.
	WriteDeadline float64 `json:"write_deadline_s,omitempty"`
	// RunWriteRate bounds the items per second all workers together write
	// for the run (counted in Redis); 0 is unlimited, else at least 25.
	RunWriteRate float64 `json:"run_write_rate,omitempty"`
}

// DefaultWriteDeadline is TargetSpec.WriteDeadline's default.
const DefaultWriteDeadline = 10 * time.Minute

// Deadline is the write deadline as a duration.
func (t TargetSpec) Deadline() time.Duration {
	if t.WriteDeadline <= 0 {
		return DefaultWriteDeadline
	}
	return time.Duration(t.WriteDeadline * float64(time.Second))
}

// VerifyParams are the verify stage's thresholds.
type VerifyParams struct {
	MinBooks        int64 `json:"min_books"`
	MinSimilarities int64 `json:"min_similarities"`
	Sample          int   `json:"sample"`
}

// Validate reports every problem with the plan at once.
func (p Plan) Validate() error {
	var errs []error
	if p.Version != PlanVersion {
		errs = append(errs, fmt.Errorf("plan version %d, this build understands %d", p.Version, PlanVersion))
	}
	errs = append(errs, CheckRun(p.Run))
	if p.Books == "" {
		errs = append(errs, errors.New("no Books.csv input"))
	}
	if p.Ratings == "" {
		errs = append(errs, errors.New("no Ratings.csv input"))
	}
	if p.Prepare.MinUserRatings < 1 {
		errs = append(errs, fmt.Errorf("min user ratings %d < 1", p.Prepare.MinUserRatings))
	}
	if p.Prepare.MinBookRatings < 1 {
		errs = append(errs, fmt.Errorf("min book ratings %d < 1", p.Prepare.MinBookRatings))
	}
	if !(p.Prepare.TestFraction >= 0 && p.Prepare.TestFraction < 1) {
		errs = append(errs, fmt.Errorf("test fraction %v outside [0,1)", p.Prepare.TestFraction))
	}
	if err := p.ALS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Similarity.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p.BlockRows < 1 {
		errs = append(errs, fmt.Errorf("block rows %d < 1", p.BlockRows))
	}
	switch p.Target.Kind {
	case "files":
		if p.Target.Dir == "" {
			errs = append(errs, errors.New("files target without a directory"))
		}
	case "dynamodb":
	default:
		errs = append(errs, fmt.Errorf("target kind %q is neither files nor dynamodb", p.Target.Kind))
	}
	if p.TaskRetries() < 0 {
		errs = append(errs, fmt.Errorf("task retries %d is negative", p.TaskRetries()))
	}
	if p.Target.WriteDeadline < 0 {
		errs = append(errs, fmt.Errorf("write deadline %vs is negative", p.Target.WriteDeadline))
	}
	if p.Target.WriteRate < 0 {
		errs = append(errs, fmt.Errorf("write rate %v items/s is negative", p.Target.WriteRate))
	}
	if r := p.Target.RunWriteRate; r != 0 && !(r >= 25) {
		errs = append(errs, fmt.Errorf("run write rate %v items/s: want 0 (no limit) or at least 25, one batch a second", r))
	}
	if p.Target.BooksTable == "" || p.Target.SimilaritiesTable == "" {
		errs = append(errs, errors.New("empty table name"))
	}
	return errors.Join(errs...)
}

// DecodePlan parses and validates a stored plan.
func DecodePlan(data []byte) (Plan, error) {
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("decode plan: %w", err)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("plan of run %s: %w", p.Run, err)
	}
	return p, nil
}

// Layout is the block layout prepare settles: how many users and items the
// model has and how they are cut into blocks. Written by the coordinator at
// the end of prepare, read by every block task.
type Layout struct {
	Users     int `json:"users"`
	Items     int `json:"items"`
	BlockRows int `json:"block_rows"`
	// Catalog is the number of books that take part in similarity and load:
	// books with metadata and a non-zero factor. Set after training.
	Catalog int `json:"catalog,omitempty"`
	// GroupBlocks is how many catalogue blocks make one similarity group:
	// sim:pair tasks score pairs of groups (see CatalogLayout). Set with
	// Catalog.
	GroupBlocks int `json:"group_blocks,omitempty"`
}

// CatalogLayout is the layout of a catalogue of n books in blocks of
// blockRows: consecutive blocks are grouped about √blocks at a time, so
// the similarity stage has about blocks/2 pair tasks of about blocks ×
// blockRows² pairs each. Grouping changes the split of work, never the
// result.
func CatalogLayout(n, blockRows int) Layout {
	l := Layout{Catalog: n, BlockRows: blockRows}
	b := l.Blocks(n)
	l.GroupBlocks = 1
	for l.GroupBlocks*l.GroupBlocks < b {
		l.GroupBlocks++
	}
	return l
}

// Groups is the number of similarity groups of the catalogue.
func (l Layout) Groups() int {
	if l.GroupBlocks < 1 {
		return 0
	}
	b := l.Blocks(l.Catalog)
	return (b + l.GroupBlocks - 1) / l.GroupBlocks
}

// GroupOf is the group of catalogue block b.
func (l Layout) GroupOf(b int) int { return b / l.GroupBlocks }

// GroupBlockRange is the half-open range of catalogue blocks of group g.
func (l Layout) GroupBlockRange(g int) (first, end int) {
	first = g * l.GroupBlocks
	return first, min(first+l.GroupBlocks, l.Blocks(l.Catalog))
}

// GroupRows is the half-open range of catalogue rows of group g.
func (l Layout) GroupRows(g int) (start, end int) {
	first, last := l.GroupBlockRange(g)
	start, _ = l.Range(first, l.Catalog)
	_, end = l.Range(last-1, l.Catalog)
	return start, end
}

// Rows is the number of rows on side ("users" or "items").
func (l Layout) Rows(side string) int {
	if side == "users" {
		return l.Users
	}
	return l.Items
}

// Blocks is the number of blocks n rows make.
func (l Layout) Blocks(n int) int { return (n + l.BlockRows - 1) / l.BlockRows }

// Range is the half-open row range of block b of n rows.
func (l Layout) Range(b, n int) (start, end int) {
	start = b * l.BlockRows
	end = min(start+l.BlockRows, n)
	return start, end
}

// Other is the side an ALS half-iteration holds fixed.
func Other(side string) string {
	if side == "users" {
		return "items"
	}
	return "users"
}
