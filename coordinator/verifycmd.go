package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/dynamo"
	"github.com/betterread/pipeline/shared/runstore"
	"github.com/betterread/pipeline/shared/store"
	"github.com/betterread/pipeline/shared/tasks"
)

// verifyConfig is the configuration of `coordinator verify`.
type verifyConfig struct {
	conn            connect.Config
	Run, Out        string
	MinBooks        int64
	MinSimilarities int64
	Sample          int
}

// verifyCommand checks a finished run's tables on its own, as the seed's
// verify Lambda does: it reads the run's plan and report from the block
// store (the tables, the counts the load wrote, the stage outcomes), runs
// the target's Verify and prints the summary JSON (verified, checks,
// table_counts, message) on stdout. The error is non-nil, so the exit
// status is 1, unless the run verified.
func verifyCommand(ctx context.Context, args []string, env connect.Env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c verifyConfig
	f := &connect.Flags{FS: fs, Env: env}
	f.String(&c.Run, "run", "BETTERREAD_RUN", "", "the run id to verify (report.json's run_id)")
	f.String(&c.Out, "out", "BETTERREAD_OUT", "", "the run's output directory; its block store is OUT/.blocks unless --store is given")
	f.Int64(&c.MinBooks, "min-books", "BETTERREAD_MIN_BOOKS", -1, "at least this many books; -1 takes the run's own threshold")
	f.Int64(&c.MinSimilarities, "min-similarities", "BETTERREAD_MIN_SIMILARITIES", -1, "at least this many similarity rows; -1 takes the run's own")
	f.Int(&c.Sample, "verify-sample", "BETTERREAD_VERIFY_SAMPLE", -1, "books whose neighbours are read back; -1 takes the run's own")
	c.conn.RegisterFlags(f)
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	c.conn.DynamoDBOptions = dynamoDBOptions
	if c.conn.Store == "" && c.Out != "" {
		c.conn.Store = filepath.Join(c.Out, ".blocks")
	}
	var runErr error
	if c.Run != "" {
		runErr = tasks.CheckRun(c.Run)
	}
	if err := joinErrs(f.Errs, c.conn.Validate(), required(c.Run, "--run"), runErr,
		required(c.conn.Store, "--store (or --out)")); err != nil {
		return usageError{fmt.Errorf("configuration:\n%w", err)}
	}
	st, err := c.conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	sum, err := verifyRun(ctx, &c, st)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		return err
	}
	if !sum.Verified {
		return fmt.Errorf("run %s is not verified: %s", c.Run, sum.Message)
	}
	return nil
}

func verifyRun(ctx context.Context, c *verifyConfig, st store.Store) (dynamo.Summary, error) {
	rs := runstore.Open(st, c.Run)
	plan, data, err := rs.Plan(ctx)
	if data == nil && err != nil {
		return dynamo.Summary{}, fmt.Errorf("run %s has no plan in the block store %s (is --store or --out right?): %w", c.Run, c.conn.Store, err)
	}
	if err != nil {
		return dynamo.Summary{}, err
	}
	var rep pipeline.Report
	if err := rs.GetJSON(ctx, runstore.ReportDoc, &rep); err != nil {
		return dynamo.Summary{}, fmt.Errorf("report of run %s: %w", c.Run, err)
	}
	if st := rep.Stages["load"].Status; st != "succeeded" && st != "resumed" {
		return dynamo.Summary{}, fmt.Errorf("run %s has not loaded its tables (load stage %q), so there is nothing to verify", c.Run, st)
	}
	opts := dynamo.VerifyOptions{
		MinBooks: plan.Verify.MinBooks, MinSimilarities: plan.Verify.MinSimilarities,
		Sample: plan.Verify.Sample, Seed: rand.Int64(),
	}
	if c.MinBooks >= 0 {
		opts.MinBooks = c.MinBooks
	}
	if c.MinSimilarities >= 0 {
		opts.MinSimilarities = c.MinSimilarities
	}
	if c.Sample >= 0 {
		opts.Sample = c.Sample
	}
	target, err := c.conn.Targets(nil)(ctx, plan.Run, plan.Target)
	if err != nil {
		return dynamo.Summary{}, fmt.Errorf("open %s target of run %s: %w", plan.Target.Kind, c.Run, err)
	}
	expected := dynamo.Counts{Books: rep.Tables[plan.Target.BooksTable], Similarities: rep.Tables[plan.Target.SimilaritiesTable]}
	sum, err := target.Verify(ctx, plan.Run, expected, opts)
	if err != nil {
		return sum, fmt.Errorf("verify run %s: %w", c.Run, err)
	}
	pipeline.AddStagesCheck(&sum, &rep)
	return sum, nil
}
