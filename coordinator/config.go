package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/betterread/pipeline/shared/als"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/similarity"
	"github.com/betterread/pipeline/shared/tasks"
)

// jobConfig is what a run computes and where its tables go: the flags
// `coordinator run` and `coordinator serve` (for runs its S3 hook starts)
// share.
type jobConfig struct {
	conn connect.Config

	Out string

	ALS        als.Params
	Similarity similarity.Params
	Prepare    tasks.PrepareParams
	BlockRows  int

	Target        string
	TablePrefix   string
	BooksTable    string
	SimsTable     string
	WriteRate     float64
	RunWriteRate  float64
	WriteDeadline time.Duration
	TaskRetries   int

	Verify tasks.VerifyParams
}

// runConfig is the configuration of `coordinator run`.
type runConfig struct {
	jobConfig

	Books, Ratings string

	Workers int

	Fresh     bool
	LogFormat string
	LogLevel  string
	Progress  string
	// RedisTimeout is how long Redis may stay unreachable before the run
	// fails.
	RedisTimeout time.Duration

	envErrs []error
}

func (c *runConfig) register(fs *flag.FlagSet, env connect.Env) {
	f := &connect.Flags{FS: fs, Env: env}
	f.String(&c.Books, "books", "BETTERREAD_BOOKS", "", "Books.csv: a path or s3://bucket/key")
	f.String(&c.Ratings, "ratings", "BETTERREAD_RATINGS", "", "Ratings.csv: a path or s3://bucket/key")
	f.Int(&c.Workers, "workers", "BETTERREAD_WORKERS", runtime.NumCPU(), "block tasks this process runs at once; 0 leaves block work to worker processes")
	c.registerJob(f)
	f.Bool(&c.Fresh, "fresh", "BETTERREAD_FRESH", false, "discard this run's stored outputs and compute everything again")
	f.String(&c.LogFormat, "log-format", "BETTERREAD_LOG_FORMAT", "auto", "log format: auto (text on a terminal, else JSON), text or json")
	f.String(&c.LogLevel, "log-level", "BETTERREAD_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	f.String(&c.Progress, "progress", "BETTERREAD_PROGRESS", "auto", "progress display: auto (a live line on a terminal, log lines otherwise), bar, log or off")
	f.Duration(&c.RedisTimeout, "redis-timeout", "BETTERREAD_REDIS_TIMEOUT", 2*time.Minute, "fail the run when Redis stays unreachable this long")
	c.conn.RegisterFlags(f)
	c.envErrs = f.Errs
}

// registerJob adds the model, output and verify flags.
func (c *jobConfig) registerJob(f *connect.Flags) {
	f.String(&c.Out, "out", "BETTERREAD_OUT", "out", "output directory: report.json, and the tables as JSONL when no DynamoDB endpoint is given")
	f.Int(&c.ALS.Rank, "rank", "BETTERREAD_RANK", 10, "ALS rank (factors per user and book)")
	f.Int(&c.ALS.Iterations, "iterations", "BETTERREAD_ITERATIONS", 10, "ALS iterations (each solves items, then users)")
	f.Float(&c.ALS.Reg, "reg", "BETTERREAD_REG", 0.1, "ALS regParam, scaled by each row's rating count (ALS-WR)")
	f.Bool(&c.ALS.Nonnegative, "nonnegative", "BETTERREAD_NONNEGATIVE", true, "constrain factors to be nonnegative (NNLS)")
	f.Int64(&c.ALS.Seed, "seed", "BETTERREAD_SEED", 42, "seed of the factor init and the train/test split")
	f.Int(&c.Similarity.Top, "top", "BETTERREAD_TOP", 20, "similar books per book")
	f.Int(&c.Prepare.MinUserRatings, "min-user-ratings", "BETTERREAD_MIN_USER_RATINGS", 5, "keep users with at least this many explicit ratings")
	f.Int(&c.Prepare.MinBookRatings, "min-book-ratings", "BETTERREAD_MIN_BOOK_RATINGS", 5, "then keep books with at least this many")
	f.Float(&c.Prepare.TestFraction, "test-fraction", "BETTERREAD_TEST_FRACTION", 0.2, "share of ratings held out for the test RMSE")
	f.Int(&c.BlockRows, "block-rows", "BETTERREAD_BLOCK_ROWS", 4096, "rows (users or books) per block task; changes the split of work, never the result")
	f.String(&c.Target, "target", "BETTERREAD_TARGET", "auto", "where the tables go: auto (DynamoDB when --dynamodb-endpoint is set, else JSONL files in --out), files, or dynamodb (AWS's regional endpoint unless --dynamodb-endpoint is set)")
	f.String(&c.TablePrefix, "table-prefix", "BETTERREAD_TABLE_PREFIX", "", "prefix of the table names Books and BookSimilarities")
	f.String(&c.BooksTable, "books-table", "BETTERREAD_BOOKS_TABLE", "", "full name of the Books table (overrides --table-prefix)")
	f.String(&c.SimsTable, "similarities-table", "BETTERREAD_SIMILARITIES_TABLE", "", "full name of the BookSimilarities table (overrides --table-prefix)")
	f.Float(&c.WriteRate, "write-rate", "BETTERREAD_WRITE_RATE", 0, "DynamoDB items per second each worker process writes at most; 0 is unlimited")
	f.Float(&c.RunWriteRate, "run-write-rate", "BETTERREAD_RUN_WRITE_RATE", 0, "DynamoDB items per second all workers together write for the run (counted in Redis; at least 25); 0 is unlimited")
	f.Duration(&c.WriteDeadline, "write-deadline", "BETTERREAD_WRITE_DEADLINE", tasks.DefaultWriteDeadline, "how long one DynamoDB batch may be retried before its load task fails")
	f.Int(&c.TaskRetries, "task-retries", "BETTERREAD_TASK_RETRIES", tasks.BlockMaxRetry, "how often a failing block task is retried before the run fails")
	f.Int64(&c.Verify.MinBooks, "min-books", "BETTERREAD_MIN_BOOKS", 1000, "verify: at least this many books (the seed's 1000)")
	f.Int64(&c.Verify.MinSimilarities, "min-similarities", "BETTERREAD_MIN_SIMILARITIES", 10000, "verify: at least this many similarity rows (the seed's 10000)")
	f.Int(&c.Verify.Sample, "verify-sample", "BETTERREAD_VERIFY_SAMPLE", 50, "verify: books whose neighbours are read back and checked")
}

func (c *runConfig) validate() error {
	errs := append([]error(nil), c.envErrs...)
	if c.Books == "" {
		errs = append(errs, errors.New("--books is required"))
	}
	if c.Ratings == "" {
		errs = append(errs, errors.New("--ratings is required"))
	}
	errs = append(errs, c.validateJob()...)
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d is negative", c.Workers))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--redis-timeout %v must be positive", c.RedisTimeout))
	}
	if c.Workers == 0 && c.conn.Redis == "" {
		errs = append(errs, errors.New("--workers 0 needs --redis: with the embedded Redis no other process can do the block work"))
	}
	switch c.Progress {
	case "auto", "bar", "log", "off":
	default:
		errs = append(errs, fmt.Errorf("--progress %q is not auto, bar, log or off", c.Progress))
	}
	if err := c.conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateJob reports every problem with the job flags.
func (c *jobConfig) validateJob() []error {
	var errs []error
	if c.Out == "" {
		errs = append(errs, errors.New("--out is required"))
	}
	if err := c.ALS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Similarity.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Prepare.MinUserRatings < 1 || c.Prepare.MinBookRatings < 1 {
		errs = append(errs, errors.New("--min-user-ratings and --min-book-ratings must be at least 1"))
	}
	if !(c.Prepare.TestFraction >= 0 && c.Prepare.TestFraction < 1) {
		errs = append(errs, fmt.Errorf("--test-fraction %v outside [0,1)", c.Prepare.TestFraction))
	}
	if c.BlockRows < 1 {
		errs = append(errs, fmt.Errorf("--block-rows %d < 1", c.BlockRows))
	}
	if c.WriteRate < 0 {
		errs = append(errs, fmt.Errorf("--write-rate %v is negative", c.WriteRate))
	}
	if c.WriteDeadline <= 0 {
		errs = append(errs, fmt.Errorf("--write-deadline %v must be positive", c.WriteDeadline))
	}
	if c.TaskRetries < 0 {
		errs = append(errs, fmt.Errorf("--task-retries %d is negative", c.TaskRetries))
	}
	if r := c.RunWriteRate; r != 0 && !(r >= 25) {
		errs = append(errs, fmt.Errorf("--run-write-rate %v: want 0 (no limit) or at least 25 items/s, one batch a second", r))
	}
	switch c.Target {
	case "auto", "files", "dynamodb":
	default:
		errs = append(errs, fmt.Errorf("--target %q is not auto, files or dynamodb", c.Target))
	}
	if err := (dynamo.Tables{Books: c.booksTable(), Similarities: c.simsTable()}).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c *jobConfig) booksTable() string { return cmp.Or(c.BooksTable, c.TablePrefix+"Books") }
func (c *jobConfig) simsTable() string  { return cmp.Or(c.SimsTable, c.TablePrefix+"BookSimilarities") }

// plan is the job's plan for the two inputs, without a run id.
func (c *jobConfig) plan(books, ratings string) tasks.Plan {
	p := tasks.Plan{
		Version: tasks.PlanVersion,
		Books:   books, Ratings: ratings,
		Prepare: c.Prepare, ALS: c.ALS, Similarity: c.Similarity,
		BlockRows: c.BlockRows,
		Target: tasks.TargetSpec{
			Kind: "files", Dir: c.Out,
			BooksTable: c.booksTable(), SimilaritiesTable: c.simsTable(),
			WriteRate: c.WriteRate, RunWriteRate: c.RunWriteRate, WriteDeadline: c.WriteDeadline.Seconds(),
		},
		Verify:  c.Verify,
		Retries: &c.TaskRetries,
	}
	p.Prepare.Seed = c.ALS.Seed
	if c.Target == "dynamodb" || (c.Target == "auto" && c.conn.DynamoDB != "") {
		p.Target.Kind, p.Target.Dir, p.Target.Endpoint, p.Target.Region = "dynamodb", "", c.conn.DynamoDB, c.conn.Region
	}
	if abs, err := filepath.Abs(p.Target.Dir); err == nil && p.Target.Dir != "" {
		p.Target.Dir = abs
	}
	return p
}

// modelParams is what of a plan, besides its inputs, changes the output or
// where it goes (the files target's directory too: two runs writing to
// different directories are different runs),
// for run ids.
func modelParams(p tasks.Plan) []byte {
	params, _ := json.Marshal([]any{p.Prepare, p.ALS, p.Similarity, p.Target.Kind, p.Target.BooksTable, p.Target.SimilaritiesTable, p.Target.Endpoint, p.Target.Dir})
	return params
}
