// Command accuracy is the accuracy benchmark: it converts MovieLens 100K
// (../shared/data/ml-100k, never copied into the repository) to the
// Book-Crossing CSV format in a temporary directory — movies as books,
// ratings doubled to 2..10 — runs the pipeline with the default parameters
// through the real coordinator binary, and prints the test RMSE on the 1..5
// scale beside the published range for explicit ALS-WR (0.92–0.96), and the
// nearest neighbours of a few famous titles.
//
//	go run ./bench/accuracy [-data ../shared/data/ml-100k]
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("accuracy", flag.ContinueOnError)
	data := fs.String("data", "../shared/data/ml-100k", "MovieLens 100K directory (u.data, u.item)")
	keep := fs.Bool("keep", false, "keep the temporary directory")
	extra := fs.String("args", "", "extra flags for `coordinator run`, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "betterread-accuracy-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Println("working directory:", tmp)
	}
	in := filepath.Join(tmp, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return err
	}
	nr, nb, err := convert(*data, in)
	if err != nil {
		return err
	}
	fmt.Printf("converted %s: %d ratings (×2), %d movies as books\n", *data, nr, nb)

	bin := filepath.Join(tmp, "coordinator")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./coordinator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build coordinator: %w", err)
	}
	out := filepath.Join(tmp, "out")
	cargs := []string{"run", "--books", filepath.Join(in, "Books.csv"), "--ratings", filepath.Join(in, "Ratings.csv"), "--out", out, "--progress", "log", "--log-level", "warn"}
	if *extra != "" {
		cargs = append(cargs, strings.Fields(*extra)...)
	}
	cmd := exec.CommandContext(ctx, bin, cargs...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)

	var rep struct {
		RMSE struct {
			Train float64 `json:"train"`
			Test  float64 `json:"test"`
		} `json:"rmse"`
		Counts struct {
			Users, Books, RatingsTrain, RatingsTest, TestDroppedColdStart int64
		} `json:"counts"`
		Stages map[string]struct{ Seconds float64 } `json:"stages"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("read report: %w", err))
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	test := rep.RMSE.Test / 2 // ratings were doubled
	fmt.Println()
	fmt.Println("| data | rank | iters | reg | test RMSE (1..5) | train RMSE (1..5) | expected test RMSE | wall s |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	verdict := "inside"
	if test < 0.92 || test > 0.96 {
		verdict = "OUTSIDE"
	}
	fmt.Printf("| ml-100k | 10 | 10 | 0.1 | %.4f (%s the range) | %.4f | 0.92–0.96 (explicit ALS-WR, 80/20) | %.1f |\n", test, verdict, rep.RMSE.Train/2, wall.Seconds())
	if runErr != nil {
		return fmt.Errorf("coordinator run: %w", runErr)
	}
	return neighbours(filepath.Join(out, "BookSimilarities.jsonl"),
		[]string{"Star Wars (1977)", "Toy Story (1995)", "Godfather, The (1972)", "Pulp Fiction (1994)", "Fargo (1996)"})
}

// convert writes Books.csv and Ratings.csv (Kaggle dialect) from ml-100k.
func convert(dir, out string) (ratings, books int, err error) {
	items, err := os.ReadFile(filepath.Join(dir, "u.item"))
	if err != nil {
		return 0, 0, err
	}
	bf, err := os.Create(filepath.Join(out, "Books.csv"))
	if err != nil {
		return 0, 0, err
	}
	defer bf.Close()
	bw := csv.NewWriter(bf)
	bw.Write([]string{"ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher", "Image-URL-S", "Image-URL-M", "Image-URL-L"})
	for _, line := range strings.Split(latin1(items), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		year := ""
		if d := f[2]; len(d) >= 4 {
			year = d[len(d)-4:]
		}
		genre := "MovieLens"
		bw.Write([]string{"ML" + f[0], f[1], genre, year, "MovieLens", "", "", ""})
		books++
	}
	bw.Flush()
	if err := bw.Error(); err != nil {
		return 0, 0, err
	}
	rf, err := os.Open(filepath.Join(dir, "u.data"))
	if err != nil {
		return 0, 0, err
	}
	defer rf.Close()
	of, err := os.Create(filepath.Join(out, "Ratings.csv"))
	if err != nil {
		return 0, 0, err
	}
	defer of.Close()
	w := bufio.NewWriter(of)
	fmt.Fprintln(w, "User-ID,ISBN,Book-Rating")
	sc := bufio.NewScanner(rf)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		r, err := strconv.Atoi(f[2])
		if err != nil {
			return 0, 0, fmt.Errorf("u.data rating %q: %w", f[2], err)
		}
		fmt.Fprintf(w, "%s,ML%s,%d\n", f[0], f[1], 2*r)
		ratings++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return ratings, books, w.Flush()
}

func latin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// neighbours prints the top 5 of each title from the JSONL table.
func neighbours(path string, titles []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type row struct {
		rank  int
		title string
		score string
	}
	want := map[string][]row{}
	for _, t := range titles {
		want[t] = nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var item map[string]map[string]string
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
		t := item["title"]["S"]
		if _, ok := want[t]; !ok {
			continue
		}
		rank, _ := strconv.Atoi(item["rank"]["N"])
		if rank <= 5 {
			want[t] = append(want[t], row{rank, item["similar_title"]["S"], item["similarity_score"]["N"]})
		}
	}
	fmt.Println()
	for _, t := range titles {
		rows := want[t]
		sort.Slice(rows, func(i, j int) bool { return rows[i].rank < rows[j].rank })
		fmt.Printf("%s:\n", t)
		if len(rows) == 0 {
			fmt.Println("  (not in the model)")
		}
		for _, r := range rows {
			fmt.Printf("  %d. %s (%s)\n", r.rank, r.title, r.score)
		}
	}
	return sc.Err()
}
