package pipeline

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstate"
)

// Report is the run report: written to the block store at every stage
// change and, by the CLI, to DIR/report.json at the end.
type Report struct {
	RunID    string                 `json:"run_id"`
	// Version is the build of the coordinator that carried the run out
	// (its latest attempt).
	Version string `json:"version,omitempty"`
	Status   string                 `json:"status"` // running, succeeded, failed
	Error    string                 `json:"error,omitempty"`
	Started  time.Time              `json:"started"`
	Finished *time.Time             `json:"finished,omitempty"`
	Inputs   Inputs                 `json:"inputs"`
	Validate ValidateResult         `json:"validate"`
	Stages   map[string]StageReport `json:"stages"`
	Counts   Counts                 `json:"counts"`
	RMSE     RMSE                   `json:"rmse"`
	// Tables is the number of items written per table.
	Tables map[string]int64 `json:"tables"`
	// WriteRetries counts batches retried for throttling or unprocessed
	// items during the load.
	WriteRetries int64 `json:"write_retries"`
	// WriteStats sums the load tasks' writer statistics (batches,
	// throttles, unprocessed items, errors retried).
	WriteStats *dynamo.WriteStats `json:"write_stats,omitempty"`
	// StaleDeleted counts, per table, the items of earlier runs the commit
	// removed after the verified load.
	StaleDeleted map[string]int64 `json:"stale_deleted,omitempty"`
	Verify       *dynamo.Summary  `json:"verify,omitempty"`
	Tasks        map[string]Tasks `json:"tasks"`
	Bytes        map[string]int64 `json:"bytes,omitempty"`
	// FetchedPerWorker is the bytes each worker (host:pid) read from the
	// block store in each ALS half-iteration ("train:003:items"): with
	// the worker cache, about one download of the fixed factor side (plus
	// the worker's rating blocks in iteration 1).
	FetchedPerWorker map[string]map[string]int64 `json:"fetched_per_worker,omitempty"`
	Coordination     *Coordination               `json:"coordination,omitempty"`
	Sample           *Sample                     `json:"sample,omitempty"`
	Issues           []string                    `json:"issues,omitempty"` // first bad input rows, with file and line
	Params           map[string]string           `json:"params,omitempty"`
	// Attempt is this attempt's number and trigger; Attempts lists every
	// attempt of the run so far, this one last.
	Attempt  *runstate.Attempt  `json:"attempt,omitempty"`
	Attempts []runstate.Attempt `json:"attempts,omitempty"`
}

// Coordination is where the run's time went, from the coordinator's view
// of its barriers (phases: ALS half-iterations, similarity, load) and the
// span of each phase's tasks on the workers. Phases resumed by another
// coordinator are not counted.
type Coordination struct {
	RunSeconds float64 `json:"run_s"`
	Phases     int     `json:"phases"`
	// TaskSpanSeconds sums, over phases, last task end − first task start.
	TaskSpanSeconds float64 `json:"task_span_s"`
	// OutsideTasksSeconds is the run's time outside the phases' task
	// spans: the coordinator's own stages (validate, prepare, RMSE,
	// verify) and the barrier overhead below. OutsideShare is it over
	// RunSeconds.
	OutsideTasksSeconds float64 `json:"outside_tasks_s"`
	OutsideShare        float64 `json:"outside_share"`
	// QueueWaitSeconds sums first task start − phase enqueued;
	// BarrierLagSeconds sums phase seen done − last task end. BarrierShare
	// is both over RunSeconds: the pure cost of coordination.
	QueueWaitSeconds  float64 `json:"queue_wait_s"`
	BarrierLagSeconds float64 `json:"barrier_lag_s"`
	BarrierShare      float64 `json:"barrier_share"`
	// TaskSeconds sums task execution per task type, over all workers.
	TaskSeconds map[string]float64 `json:"task_s"`
}

// Inputs names the run's input files.
type Inputs struct {
	Books   string `json:"books"`
	Ratings string `json:"ratings"`
}

// StageReport is one stage's outcome.
type StageReport struct {
	Status  string  `json:"status"` // running, succeeded, failed, resumed (outputs already stored)
	Seconds float64 `json:"seconds"`
	Detail  string  `json:"detail,omitempty"`
}

// Counts are the row counts in and out of prepare.
type Counts struct {
	RatingsRead    int64            `json:"ratings_read"`
	RatingsDropped map[string]int64 `json:"ratings_dropped"`
	// DuplicateRatings counts explicit rating rows whose (user, isbn) was
	// rated before; ConflictingRatings the pairs rated with more than one
	// value. Every such row trains, as in Spark.
	DuplicateRatings     int64            `json:"duplicate_ratings"`
	ConflictingRatings   int64            `json:"conflicting_ratings"`
	BooksRead            int64            `json:"books_read"`
	BooksDropped         map[string]int64 `json:"books_dropped"`
	Repaired             map[string]int64 `json:"repaired,omitempty"`
	Users                int64            `json:"users"`
	Books                int64            `json:"books"`
	Ratings              int64            `json:"ratings"`
	RatingsTrain         int64            `json:"ratings_train"`
	RatingsTest          int64            `json:"ratings_test"`
	TestDroppedColdStart int64            `json:"test_dropped_cold_start"`
	BooksWithoutMetadata int64            `json:"books_without_metadata"`
	BooksZeroFactors     int64            `json:"books_zero_factors"`
	Catalog              int64            `json:"catalog"` // books in the output tables
}

// RMSE of the final model.
type RMSE struct {
	Train float64 `json:"train"`
	Test  float64 `json:"test"`
}

// Tasks counts a stage's block tasks.
type Tasks struct {
	Blocks   int64 `json:"blocks"`   // blocks the stage needs
	Enqueued int64 `json:"enqueued"` // tasks this coordinator enqueued
	Resumed  int64 `json:"resumed"`  // blocks already in the store, not recomputed
	Run      int64 `json:"run"`      // task deliveries started on workers
	Retried  int64 `json:"retried"`  // deliveries that were retries
	Requeued int64 `json:"requeued"` // tasks re-enqueued after Redis lost them
	// Recomputed counts blocks of this stage found corrupt (checksum or
	// shape) by a reader and computed again.
	Recomputed int64 `json:"recomputed,omitempty"`
	// Speculated counts backup copies started for tasks held by a worker
	// that stopped heartbeating or running far over the phase's median;
	// BackupWon those whose backup finished first.
	Speculated int64 `json:"speculated,omitempty"`
	BackupWon  int64 `json:"backup_won,omitempty"`
}

// Sample shows the nearest books of the most-rated catalogue book.
type Sample struct {
	ISBN      string      `json:"isbn"`
	Title     string      `json:"title"`
	Author    string      `json:"author"`
	Neighbors []SampleRow `json:"neighbors"`
}

// SampleRow is one neighbour.
type SampleRow struct {
	Rank   int     `json:"rank"`
	ISBN   string  `json:"isbn"`
	Title  string  `json:"title"`
	Author string  `json:"author"`
	Score  float32 `json:"score"`
}

// AddStagesCheck adds the seed's "all stages succeeded" check to a verify
// summary: every stage before verify succeeded (or was resumed).
func AddStagesCheck(sum *dynamo.Summary, rep *Report) {
	failed := []string{}
	for _, s := range StageOrder[:len(StageOrder)-1] {
		if st := rep.Stages[s].Status; st != "succeeded" && st != "resumed" {
			failed = append(failed, s)
		}
	}
	sum.AddCheck("stages_succeeded", len(failed) == 0, strings.Join(failed, ","))
}

// StageOrder is the order stages run in.
var StageOrder = []string{"validate", "prepare", "train", "similarity", "load", "verify"}

// WriteSummary prints the report for a person.
func (r *Report) WriteSummary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("run %s: %s\n", r.RunID, r.Status)
	if r.Error != "" {
		p("  error: %s\n", r.Error)
	}
	p("inputs: %s, %s\n", r.Inputs.Books, r.Inputs.Ratings)
	c := r.Counts
	p("ratings read %d, dropped %d%s\n", c.RatingsRead, sum(c.RatingsDropped), reasons(c.RatingsDropped))
	if c.DuplicateRatings > 0 {
		p("duplicate ratings %d (of them %d pairs with conflicting values; every row trains, as in Spark)\n", c.DuplicateRatings, c.ConflictingRatings)
	}
	p("books read %d, dropped %d%s\n", c.BooksRead, sum(c.BooksDropped), reasons(c.BooksDropped))
	if len(c.Repaired) > 0 {
		p("repaired%s\n", reasons(c.Repaired))
	}
	p("after filtering: %d users, %d books, %d ratings (train %d, test %d)\n", c.Users, c.Books, c.Ratings, c.RatingsTrain, c.RatingsTest)
	p("books without metadata %d, with zero factors %d; %d books in the tables\n", c.BooksWithoutMetadata, c.BooksZeroFactors, c.Catalog)
	p("rmse: train %.4f, test %.4f (%d test ratings dropped: cold start)\n", r.RMSE.Train, r.RMSE.Test, c.TestDroppedColdStart)
	if r.RMSE.Test > 0 {
		p("  train is the error on the ratings the model was fitted to, test on ratings held out from it: test above train is what a model does on ratings it has not seen\n")
	}
	p("stages:")
	for _, s := range StageOrder {
		if st, ok := r.Stages[s]; ok {
			p(" %s %.2fs (%s)", s, st.Seconds, st.Status)
		}
	}
	p("\n")
	if len(r.Tasks) > 0 {
		p("tasks:")
		for _, s := range []string{"train", "similarity", "load"} {
			if t, ok := r.Tasks[s]; ok {
				p(" %s %s, %d run, %d retried, %d resumed, %d recomputed, %s (%d won);", s, count(t.Blocks, "task"), t.Run, t.Retried, t.Resumed, t.Recomputed, count(t.Speculated, "backup"), t.BackupWon)
			}
		}
		p("\n")
	}
	if len(r.FetchedPerWorker) > 0 {
		var sum, most, n int64
		workers := map[string]bool{}
		for _, byWorker := range r.FetchedPerWorker {
			for w, b := range byWorker {
				sum, most, n = sum+b, max(most, b), n+1
				workers[w] = true
			}
		}
		p("store reads per worker per ALS half-iteration: mean %s, max %s over %s (a whole factor side: users %s, items %s)\n",
			mb(sum/n), mb(most), count(int64(len(workers)), "worker"), mb(r.Bytes["factor_side_users"]), mb(r.Bytes["factor_side_items"]))
	}
	if c := r.Coordination; c != nil && c.Phases > 0 {
		p("coordination: %s; %.2fs of %.2fs outside block tasks (%.0f%%: the coordinator's own stages and waits), of which %.2fs waiting for a worker to take a phase's first task and %.2fs from a phase's last task to the next phase (%.1f%%)\n",
			count(int64(c.Phases), "phase"), c.OutsideTasksSeconds, c.RunSeconds, 100*c.OutsideShare, c.QueueWaitSeconds, c.BarrierLagSeconds, 100*c.BarrierShare)
	}
	if len(r.Tables) > 0 {
		p("tables:%s\n", reasons(r.Tables))
	}
	if ws := r.WriteStats; ws != nil && (ws.Throttles+ws.Unprocessed+ws.Errors) > 0 {
		p("write retries: %d throttles, %d unprocessed items in %d resends, %d other errors, %.1fs backing off\n",
			ws.Throttles, ws.Unprocessed, ws.UnprocessedRetries, ws.Errors, ws.Backoff.Seconds())
	}
	if len(r.StaleDeleted) > 0 {
		p("removed from earlier runs:%s\n", reasons(r.StaleDeleted))
	}
	if r.Verify != nil {
		p("verify: verified=%v: %s\n", r.Verify.Verified, r.Verify.Message)
	}
	if r.Sample != nil {
		p("most similar to %q by %s (the most-rated book):\n", r.Sample.Title, r.Sample.Author)
		for _, n := range r.Sample.Neighbors {
			p("  %d. %s — %s (%.3f)\n", n.Rank, n.Title, n.Author, n.Score)
		}
	}
	for i, is := range r.Issues {
		if i == 0 {
			p("first input problems:\n")
		}
		p("  %s\n", is)
	}
}

// count is "n word", with the plural when n is not one.
func count(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func reasons(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(" (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	b.WriteString(")")
	return b.String()
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
