// Command speed is the whole-pipeline speed benchmark: it generates a
// synthetic data set of the Book-Crossing shape (or a multiple of it) with
// `coordinator generate`, runs the embedded pipeline on it through the real
// coordinator binary, and prints stage timings, ALS ratings/s and
// similarity pairs/s from the run report.
//
//	go run ./bench/speed [-scale 1] [-workers 2] [-block-rows 4096]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "speed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("speed", flag.ContinueOnError)
	scale := fs.Float64("scale", 1, "multiple of the Book-Crossing shape to generate")
	workers := fs.Int("workers", 0, "--workers for the run (0: the coordinator's default, one per CPU)")
	blockRows := fs.Int("block-rows", 0, "--block-rows for the run (0: the default)")
	extra := fs.String("args", "", "extra flags for `coordinator run`, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "betterread-speed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "coordinator")
	if err := sh(ctx, "go", "build", "-o", bin, "./coordinator"); err != nil {
		return fmt.Errorf("build coordinator: %w", err)
	}
	in := filepath.Join(tmp, "in")
	genStart := time.Now()
	if err := sh(ctx, bin, "generate", "--out", in, "--scale", fmt.Sprint(*scale)); err != nil {
		return err
	}
	gen := time.Since(genStart)
	out := filepath.Join(tmp, "out")
	cargs := []string{"run", "--books", filepath.Join(in, "Books.csv"), "--ratings", filepath.Join(in, "Ratings.csv"), "--out", out, "--progress", "log", "--log-level", "warn"}
	if *workers > 0 {
		cargs = append(cargs, "--workers", fmt.Sprint(*workers))
	}
	if *blockRows > 0 {
		cargs = append(cargs, "--block-rows", fmt.Sprint(*blockRows))
	}
	if *extra != "" {
		cargs = append(cargs, strings.Fields(*extra)...)
	}
	start := time.Now()
	runErr := sh(ctx, bin, cargs...)
	wall := time.Since(start)
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		return fmt.Errorf("read report (run error %v): %w", runErr, err)
	}
	var rep struct {
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
		Params map[string]string `json:"params"`
		Tables map[string]int64  `json:"tables"`
		RMSE   struct{ Train, Test float64 }
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	var iters, rank float64
	fmt.Sscan(rep.Params["iterations"], &iters)
	fmt.Sscan(rep.Params["rank"], &rank)
	c := rep.Counts
	train := rep.Stages["train"].Seconds
	sim := rep.Stages["similarity"].Seconds
	// Each iteration visits every training rating twice (items, users).
	alsRatings := float64(c.RatingsTrain) * 2 * iters
	pairs := float64(c.Catalog) * float64(c.Catalog-1)
	fmt.Printf("\ngenerated scale %.1f in %.1fs: %d rating rows read; %d users, %d books, %d train ratings, %d books in the tables\n",
		*scale, gen.Seconds(), c.RatingsRead, c.Users, c.Books, c.RatingsTrain, c.Catalog)
	fmt.Println("| stage | seconds | rate |")
	fmt.Println("|---|---|---|")
	for _, s := range []string{"validate", "prepare", "train", "similarity", "load", "verify"} {
		rate := ""
		switch s {
		case "prepare":
			rate = fmt.Sprintf("%.2f M rating rows/s", float64(c.RatingsRead)/rep.Stages[s].Seconds/1e6)
		case "train":
			rate = fmt.Sprintf("%.2f M ratings/s (nnz×2×iterations); %.2f GFLOP/s normal equations (nnz·k² per half)", alsRatings/train/1e6, alsRatings*rank*rank/train/1e9)
		case "similarity":
			rate = fmt.Sprintf("%.1f M pairs/s; %.2f GFLOP/s (2k per pair)", pairs/sim/1e6, pairs*2*rank/sim/1e9)
		}
		fmt.Printf("| %s | %.2f | %s |\n", s, rep.Stages[s].Seconds, rate)
	}
	fmt.Printf("| whole run (wall, incl. process start) | %.2f | rmse train %.3f test %.3f |\n", wall.Seconds(), rep.RMSE.Train, rep.RMSE.Test)
	return runErr
}

func sh(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), args[0], err)
	}
	return nil
}
