package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/betterread/pipeline/shared/connect"
	"github.com/betterread/pipeline/shared/dataset"
)

// generateCommand writes a synthetic Books.csv and Ratings.csv.
func generateCommand(ctx context.Context, args []string, env connect.Env, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := dataset.DefaultGenParams()
	var out string
	var scale float64
	f := &connect.Flags{FS: fs, Env: env}
	f.String(&out, "out", "BETTERREAD_GENERATE_OUT", "data", "directory to write Books.csv and Ratings.csv into")
	f.Float(&scale, "scale", "BETTERREAD_GENERATE_SCALE", 1, "multiply the default (Book-Crossing) shape's users, books and ratings")
	f.Int(&p.Users, "users", "BETTERREAD_GENERATE_USERS", p.Users, "users (before -scale)")
	f.Int(&p.Books, "books", "BETTERREAD_GENERATE_BOOKS", p.Books, "books in Books.csv (before -scale)")
	f.Int(&p.Ratings, "ratings", "BETTERREAD_GENERATE_RATINGS", p.Ratings, "rating rows (before -scale)")
	f.Int(&p.Groups, "groups", "BETTERREAD_GENERATE_GROUPS", p.Groups, "latent book groups users prefer")
	f.Int64(&p.Seed, "seed", "BETTERREAD_GENERATE_SEED", p.Seed, "generator seed")
	if err := parseFlags(fs, args); err != nil {
		return parseError(err)
	}
	if err := errors.Join(f.Errs...); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	p.Users, p.Books, p.Ratings = int(float64(p.Users)*scale), int(float64(p.Books)*scale), int(float64(p.Ratings)*scale)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	bf, err := os.Create(filepath.Join(out, "Books.csv"))
	if err != nil {
		return err
	}
	defer bf.Close()
	rf, err := os.Create(filepath.Join(out, "Ratings.csv"))
	if err != nil {
		return err
	}
	defer rf.Close()
	bw, rw := bufio.NewWriterSize(bf, 1<<20), bufio.NewWriterSize(rf, 1<<20)
	stats, err := dataset.Generate(ctx, p, bw, rw)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if err := errors.Join(bw.Flush(), rw.Flush(), bf.Close(), rf.Close()); err != nil {
		return fmt.Errorf("write generated files: %w", err)
	}
	writeGenStats(stderr, out, stats)
	return nil
}

// writeGenStats says what generate wrote, for a person.
func writeGenStats(w io.Writer, out string, s dataset.GenStats) {
	zero := 0.0
	if s.Ratings > 0 {
		zero = 100 * float64(s.Zero) / float64(s.Ratings)
	}
	fmt.Fprintf(w, "wrote %s/Books.csv and %s/Ratings.csv\n", out, out)
	fmt.Fprintf(w, "  %d books, %d ratings (%.1f %% of them 0, implicit) by %d users, over %d ISBNs (%d of them not in Books.csv)\n",
		s.Books, s.Ratings, zero, s.Users, s.RatedISBNs, s.MissingISBNs)
	if len(s.Quirks) > 0 {
		names := slices.Sorted(maps.Keys(s.Quirks))
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d", n, s.Quirks[n])
		}
		fmt.Fprintf(w, "  quirks planted in Books.csv (the reader repairs and counts them): %s\n", strings.Join(parts, ", "))
	}
}
