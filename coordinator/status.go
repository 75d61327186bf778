package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/betterread/pipeline/coordinator/pipeline"
	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/runstate"
	"github.com/betterread/pipeline/shared/tasks"
)

// statusCommand prints what GET /runs and GET /runs/{id} serve, from Redis
// and the block store: `coordinator status` lists recent runs and the
// watched locations; `coordinator status RUN` prints one run's summary and
// live progress (--json: the report itself).
func statusCommand(ctx context.Context, args []string, env connect.Env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var conn connect.Config
	var asJSON bool
	var n int
	var out string
	f := &connect.Flags{FS: fs, Env: env}
	f.String(&out, "out", "BETTERREAD_STATUS_OUT", "", "show the run whose report is DIR/report.json (a local `coordinator run --out DIR`); needs no Redis")
	f.Bool(&asJSON, "json", "BETTERREAD_STATUS_JSON", false, "print JSON, as the HTTP API does")
	f.Int(&n, "n", "BETTERREAD_STATUS_RUNS", 20, "how many recent runs to list")
	conn.RegisterFlags(f)
	// Flags may come before or after the run id.
	var ids []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return parseError(err)
		}
		if fs.NArg() == 0 {
			break
		}
		ids, args = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	if len(ids) > 1 {
		return fmt.Errorf("at most one run id, got %q: %w", ids, errUsage)
	}
	if out != "" {
		return localStatus(out, asJSON, stdout)
	}
	if err := joinErrs(f.Errs, conn.Validate(), required(conn.Redis, "--redis"), required(conn.Store, "--store")); err != nil {
		return usageError{fmt.Errorf("configuration:\n%w", err)}
	}
	st, err := conn.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	rc := conn.RedisClient()
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to redis at %s: %w", conn.RedisDisplay(), err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if len(ids) == 1 {
		id := ids[0]
		if err := tasks.CheckRun(id); err != nil {
			return usageError{err}
		}
		d, err := runDetail(ctx, rc, st, id)
		if err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		if asJSON {
			return enc.Encode(d)
		}
		d.Report.WriteSummary(stdout)
		if p := d.Progress; p != nil && d.Report.Status == "running" {
			fmt.Fprintf(stdout, "now: %s %s %d/%d\n", p.Stage, p.Step, p.Done, p.Total)
			if p.Warning != "" {
				fmt.Fprintf(stdout, "warning: %s\n", p.Warning)
			}
		}
		writeAttempts(stdout, d.Attempts)
		return nil
	}
	list, err := listRuns(ctx, rc, st, n)
	if err != nil {
		return err
	}
	if asJSON {
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tSTATUS\tSTAGE\tVERIFIED\tATTEMPTS\tERROR")
	for _, r := range list.Runs {
		verified := "-"
		if r.Verified != nil {
			verified = fmt.Sprint(*r.Verified)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.RunID, r.Started.Format("2006-01-02 15:04:05"), r.Status, r.Stage, verified, len(r.Attempts), r.Error)
	}
	tw.Flush()
	for _, w := range list.Watches {
		fmt.Fprintf(stdout, "watch %s: %s (%s, %s)\n", w.Watch, w.State, w.Message, w.Updated.Format("2006-01-02 15:04:05"))
	}
	return nil
}

// writeAttempts lists a run's attempts, oldest first.
func writeAttempts(w io.Writer, attempts []runstate.Attempt) {
	if len(attempts) == 0 {
		return
	}
	fmt.Fprintln(w, "attempts:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tTRIGGER\tSTARTED\tENDED\tSTATUS\tBY\tERROR")
	for _, a := range attempts {
		ended := "-"
		if a.Ended != nil {
			ended = a.Ended.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Number, a.Trigger, a.Started.Format("2006-01-02 15:04:05"), ended, a.Status, a.Holder, a.Error)
	}
	tw.Flush()
}

// localStatus shows the run a local `coordinator run --out dir` wrote.
func localStatus(dir string, asJSON bool, stdout io.Writer) error {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return fmt.Errorf("no run report in %s: %w", dir, err)
	}
	if asJSON {
		_, err := stdout.Write(data)
		return err
	}
	var rep pipeline.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", filepath.Join(dir, "report.json"), err)
	}
	rep.WriteSummary(stdout)
	writeAttempts(stdout, rep.Attempts)
	return nil
}
