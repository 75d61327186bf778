// Command scale measures the embedded pipeline at several sizes in one run:
// for each scale of the Book-Crossing shape it generates a data set (kept
// in -data for the next run), runs `coordinator run` on it and prints each
// stage's time and rate (rating rows/s, ratings/s per core, pairs/s per
// core and % of fp32 peak, items/s), the run's CPU time and peak RSS, and
// the coordination overhead. With -base it runs an older coordinator binary
// on the same input first, prints both side by side, and checks that the
// tables are byte-identical (run_id aside). It also times the similarity
// kernels on one block of random unit rows.
//
//	go run ./bench/scale [-scales 1,16,64] [-base /path/to/old/coordinator] [-data DIR]
//	go run ./bench/scale -scales 200   # Goodreads-sized: ≈ 230 M ratings
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/betterread/pipeline/shared/similarity"
)

// peakPerCore is the fp32 peak of one core of the reference machine (Zen 3
// at 2.85 GHz: two 8-wide FMA pipes), in FLOP/s. A pair at rank k costs 2k
// flops (k multiplications, k additions).
const peakPerCore = 91e9

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

type options struct {
	scales    []float64
	base      string
	data      string
	keep      bool
	workers   int
	kernelN   int
	kernelK   int
	extraArgs []string
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	scales := fs.String("scales", "1,16,64", "comma-separated multiples of the Book-Crossing shape (200 is Goodreads-sized)")
	var o options
	fs.StringVar(&o.base, "base", "", "an older coordinator binary to run first on the same inputs, for before/after and byte-identity")
	fs.StringVar(&o.data, "data", filepath.Join(os.TempDir(), "betterread-scale-data"), "directory for the generated inputs, reused across runs")
	fs.BoolVar(&o.keep, "keep", false, "keep the runs' outputs (printed) instead of removing them")
	fs.IntVar(&o.workers, "workers", 0, "--workers for the runs (0: one per CPU)")
	fs.IntVar(&o.kernelN, "kernel-n", 8192, "rows of the kernel timing (0: skip it)")
	fs.IntVar(&o.kernelK, "kernel-rank", 10, "rank of the kernel timing")
	extra := fs.String("args", "", "extra flags for `coordinator run`, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for f := range strings.SplitSeq(*scales, ",") {
		s, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || s <= 0 {
			return fmt.Errorf("-scales: %q is not a positive number", f)
		}
		o.scales = append(o.scales, s)
	}
	o.extraArgs = strings.Fields(*extra)
	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	if o.kernelN > 0 {
		if err := kernels(ctx, o.kernelN, o.kernelK); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "betterread-scale-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "coordinator")
	if err := sh(ctx, io.Discard, "go", "build", "-o", bin, "./coordinator"); err != nil {
		return fmt.Errorf("build coordinator: %w", err)
	}
	for _, s := range o.scales {
		if err := scale(ctx, o, bin, tmp, s); err != nil {
			return fmt.Errorf("scale %g: %w", s, err)
		}
	}
	return nil
}

// kernels times each similarity kernel on one block of n random unit rows
// of rank k, on one goroutine: the pair kernels score each pair once, the
// portable search every pair twice (as the stage did before pairs).
func kernels(ctx context.Context, n, k int) error {
	rng := rand.New(rand.NewPCG(7, 11))
	f := make([]float32, n*k)
	for i := range f {
		f[i] = float32(rng.Float64())
	}
	skip := similarity.Normalize(f, k)
	const top = 20
	fmt.Printf("\nkernels, one goroutine, n = %d, rank %d, top %d (%s)\n", n, k, top, loadavg())
	fmt.Println("| kernel | pair scores | seconds | G pair scores/s per core | % of fp32 peak |")
	fmt.Println("|---|---|---|---|---|")
	report := func(name string, scores float64, d time.Duration) {
		rate := scores / d.Seconds()
		fmt.Printf("| %s | %.3g | %.2f | %.2f | %.1f |\n", name, scores, d.Seconds(), rate/1e9, 100*rate*2*float64(k)/peakPerCore)
	}
	all := similarity.Range{Start: 0, End: n}
	for _, kern := range similarity.PairKernels() {
		la := similarity.NewLists(n, top)
		start := time.Now()
		if err := kern.Pair(ctx, f, k, skip, all, all, top, la, nil); err != nil {
			return fmt.Errorf("%s kernel: %w", kern.Name(), err)
		}
		report("pair/"+kern.Name()+" (each pair once)", float64(n)*float64(n-1)/2, time.Since(start))
	}
	out := make([]similarity.Neighbor, n*top)
	start := time.Now()
	if err := (similarity.Portable{}).TopK(ctx, f, k, skip, 0, n, top, out); err != nil {
		return fmt.Errorf("portable search: %w", err)
	}
	report("search/portable (each pair twice)", float64(n)*float64(n-1), time.Since(start))
	return nil
}

// report is the part of report.json the benchmark reads.
type report struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Counts struct {
		RatingsRead  int64 `json:"ratings_read"`
		Users        int64 `json:"users"`
		Books        int64 `json:"books"`
		RatingsTrain int64 `json:"ratings_train"`
		Catalog      int64 `json:"catalog"`
	} `json:"counts"`
	Stages map[string]struct {
		Seconds float64 `json:"seconds"`
	} `json:"stages"`
	Params       map[string]string `json:"params"`
	Tables       map[string]int64  `json:"tables"`
	Coordination *struct {
		RunSeconds          float64            `json:"run_s"`
		OutsideTasksSeconds float64            `json:"outside_tasks_s"`
		QueueWaitSeconds    float64            `json:"queue_wait_s"`
		BarrierLagSeconds   float64            `json:"barrier_lag_s"`
		TaskSeconds         map[string]float64 `json:"task_s"`
	} `json:"coordination"`
}

// measured is one run of one binary.
type measured struct {
	rep      report
	out      string
	wall     time.Duration
	cpu      time.Duration
	peakRSS  int64 // bytes
	runError error
}

var stages = []string{"validate", "prepare", "train", "similarity", "load", "verify"}

func scale(ctx context.Context, o options, bin, tmp string, s float64) error {
	in := filepath.Join(o.data, fmt.Sprintf("scale-%g", s))
	books, ratings := filepath.Join(in, "Books.csv"), filepath.Join(in, "Ratings.csv")
	if _, err := os.Stat(filepath.Join(in, "done")); err != nil {
		genStart := time.Now()
		if err := sh(ctx, os.Stdout, bin, "generate", "--out", in, "--scale", fmt.Sprint(s)); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(in, "done"), nil, 0o644); err != nil {
			return err
		}
		fmt.Printf("generated scale %g in %.1f s\n", s, time.Since(genStart).Seconds())
	}
	// Read the inputs once so that neither run pays for a cold page cache.
	for _, f := range []string{books, ratings} {
		if err := sh(ctx, io.Discard, "cat", f); err != nil {
			return err
		}
	}
	var runs []measured
	names := []string{}
	if o.base != "" {
		m, err := runOnce(ctx, o, o.base, books, ratings, filepath.Join(tmp, fmt.Sprintf("out-base-%g", s)))
		if err != nil {
			return err
		}
		runs, names = append(runs, m), append(names, "before")
	}
	m, err := runOnce(ctx, o, bin, books, ratings, filepath.Join(tmp, fmt.Sprintf("out-new-%g", s)))
	if err != nil {
		return err
	}
	runs, names = append(runs, m), append(names, "after")
	cores := float64(runtime.NumCPU())
	if o.workers > 0 {
		cores = min(cores, float64(o.workers))
	}
	c := m.rep.Counts
	var iters, rank float64
	fmt.Sscan(m.rep.Params["iterations"], &iters)
	fmt.Sscan(m.rep.Params["rank"], &rank)
	items := 0.0
	for _, n := range m.rep.Tables {
		items += float64(n)
	}
	fmt.Printf("\nscale %g: %d rating rows read; %d users, %d books, %d train ratings, %d books in the tables, %.0f items (%s)\n",
		s, c.RatingsRead, c.Users, c.Books, c.RatingsTrain, c.Catalog, items, loadavg())
	head, rule := "| stage |", "|---|"
	for _, n := range names {
		head += " " + n + " s |"
		rule += "---|"
	}
	if len(runs) == 2 {
		head += " speed-up |"
		rule += "---|"
	}
	fmt.Println(head + " rate (after) |")
	fmt.Println(rule + "---|")
	pairs := float64(c.Catalog) * float64(c.Catalog-1) / 2
	for _, st := range stages {
		line := "| " + st + " |"
		for _, r := range runs {
			line += fmt.Sprintf(" %.2f |", r.rep.Stages[st].Seconds)
		}
		if len(runs) == 2 {
			line += " " + speedup(runs[0].rep.Stages[st].Seconds, runs[1].rep.Stages[st].Seconds) + " |"
		}
		sec := m.rep.Stages[st].Seconds
		rate := ""
		switch st {
		case "prepare":
			rate = fmt.Sprintf("%.2f M rating rows/s", float64(c.RatingsRead)/sec/1e6)
		case "train":
			rate = fmt.Sprintf("%.2f M ratings/s per core (train ratings × 2 × iterations)", float64(c.RatingsTrain)*2*iters/sec/cores/1e6)
		case "similarity":
			per := pairs / sec / cores
			rate = fmt.Sprintf("%.2f G pairs/s per core (each pair once), %.1f %% of fp32 peak", per/1e9, 100*per*2*rank/peakPerCore)
		case "load", "verify":
			rate = fmt.Sprintf("%.2f M items/s", items/sec/1e6)
		}
		fmt.Println(line + " " + rate + " |")
	}
	line := "| whole run (wall) |"
	for _, r := range runs {
		line += fmt.Sprintf(" %.2f |", r.wall.Seconds())
	}
	if len(runs) == 2 {
		line += " " + speedup(runs[0].wall.Seconds(), runs[1].wall.Seconds()) + " |"
	}
	fmt.Println(line + " |")
	line = "| CPU s (user+sys) / peak RSS |"
	for _, r := range runs {
		line += fmt.Sprintf(" %.1f / %.2f GB |", r.cpu.Seconds(), float64(r.peakRSS)/1e9)
	}
	if len(runs) == 2 {
		line += " |"
	}
	fmt.Println(line + " |")
	if co := m.rep.Coordination; co != nil {
		fmt.Printf("coordination (after): run %.2f s, outside tasks %.2f s (coordinator stages and barriers), queue wait %.2f s, barrier lag %.2f s; task seconds %v\n",
			co.RunSeconds, co.OutsideTasksSeconds, co.QueueWaitSeconds, co.BarrierLagSeconds, co.TaskSeconds)
	}
	for i, r := range runs {
		if r.runError != nil {
			return fmt.Errorf("%s run: %w (%s)", names[i], r.runError, r.rep.Error)
		}
	}
	if len(runs) == 2 {
		for _, table := range []string{"Books.jsonl", "BookSimilarities.jsonl"} {
			same, n, err := sameTable(filepath.Join(runs[0].out, table), filepath.Join(runs[1].out, table))
			if err != nil {
				return err
			}
			if !same {
				return fmt.Errorf("%s differs between before and after (run_id aside): %s, %s", table, runs[0].out, runs[1].out)
			}
			fmt.Printf("%s byte-identical before and after (run_id aside): %d rows\n", table, n)
		}
	}
	if !o.keep {
		for _, r := range runs {
			os.RemoveAll(r.out)
		}
	} else {
		for i, r := range runs {
			fmt.Printf("%s output: %s\n", names[i], r.out)
		}
	}
	return nil
}

func runOnce(ctx context.Context, o options, bin, books, ratings, out string) (measured, error) {
	args := []string{"run", "--books", books, "--ratings", ratings, "--out", out, "--progress", "log", "--log-level", "warn"}
	if o.workers > 0 {
		args = append(args, "--workers", fmt.Sprint(o.workers))
	}
	args = append(args, o.extraArgs...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	m := measured{out: out, wall: time.Since(start), runError: err}
	if ps := cmd.ProcessState; ps != nil {
		m.cpu = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.peakRSS = ru.Maxrss * 1024
		}
	}
	raw, rerr := os.ReadFile(filepath.Join(out, "report.json"))
	if rerr != nil {
		return m, fmt.Errorf("%s: no report (run: %v; stderr: %s): %w", bin, err, tail(stderr.String(), 2000), rerr)
	}
	if err := json.Unmarshal(raw, &m.rep); err != nil {
		return m, fmt.Errorf("decode %s: %w", filepath.Join(out, "report.json"), err)
	}
	return m, nil
}

var runID = regexp.MustCompile(`"run_id":\{"S":"r-[0-9a-f]+"\}`)

// sameTable compares two JSONL tables line by line with run ids removed.
func sameTable(a, b string) (bool, int, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, 0, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, 0, err
	}
	defer fb.Close()
	sa, sb := bufio.NewScanner(fa), bufio.NewScanner(fb)
	sa.Buffer(nil, 1<<20)
	sb.Buffer(nil, 1<<20)
	n := 0
	for {
		okA, okB := sa.Scan(), sb.Scan()
		if okA != okB {
			return false, n, nil
		}
		if !okA {
			return true, n, errors.Join(sa.Err(), sb.Err())
		}
		if !bytes.Equal(runID.ReplaceAll(sa.Bytes(), nil), runID.ReplaceAll(sb.Bytes(), nil)) {
			return false, n, nil
		}
		n++
	}
}

func speedup(before, after float64) string {
	if after <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", before/after)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load unknown"
	}
	return "load " + strings.Join(f[:3], " ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func sh(ctx context.Context, stdout io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), args[0], err)
	}
	return nil
}
