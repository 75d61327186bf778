package dataset

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"strings"
	"testing"
)

func smallParams(d Dialect) GenParams {
	return GenParams{Users: 3000, Books: 2000, Ratings: 30000, ZeroFraction: 0.62, MissingBookFraction: 0.2,
		Groups: 8, Seed: 7, Dialect: d, Quirks: true}
}

func generate(t *testing.T, p GenParams) (GenStats, []byte, []byte) {
	t.Helper()
	var books, ratings bytes.Buffer
	st, err := Generate(t.Context(), p, &books, &ratings)
	if err != nil {
		t.Fatal(err)
	}
	return st, books.Bytes(), ratings.Bytes()
}

// The readers take the generated files with exactly the planted counts, and
// the stats describe the files.
func TestGenerateShape(t *testing.T) {
	t.Parallel()
	for _, d := range []Dialect{Kaggle, BXDump} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			p := smallParams(d)
			st, bookData, ratingData := generate(t, p)
			if st.Books != p.Books || st.Ratings != p.Ratings {
				t.Errorf("stats %d books, %d ratings; want %d, %d", st.Books, st.Ratings, p.Books, p.Ratings)
			}
			brep, _, books, err := readAll(t, Reader{}, KindBooks, "Books.csv", bookData)
			if err != nil {
				t.Fatal(err)
			}
			wantQuirks := counts{RepairShiftedRow: 1, RepairYearZero: 1, RepairYearOutOfRange: 1, RepairHTMLEntity: 1}
			if d == Kaggle {
				wantQuirks[RepairLatin1] = 1
			}
			if brep.Dialect != d || brep.Rows != int64(p.Books) || len(brep.Dropped) != 0 ||
				!maps.Equal(brep.Repaired, wantQuirks) || !maps.Equal(st.Quirks, wantQuirks) {
				t.Errorf("books report %+v, stats quirks %v; want %s, %d rows, none dropped, repaired %v",
					brep, st.Quirks, d, p.Books, wantQuirks)
			}
			rrep, ratings, _, err := readAll(t, Reader{}, KindRatings, "Ratings.csv", ratingData)
			if err != nil {
				t.Fatal(err)
			}
			if rrep.Rows != int64(p.Ratings) || rrep.Accepted != rrep.Rows || len(rrep.Repaired) != 0 {
				t.Errorf("ratings report %+v, want %d rows all accepted", rrep, p.Ratings)
			}
			inBooks := map[string]bool{}
			for _, b := range books {
				inBooks[b.ISBN] = true
				if _, ok := GroupOf(b.Publisher); !ok {
					t.Errorf("line %d: publisher %q carries no group", b.Line, b.Publisher)
				}
			}
			users, rated := map[string]bool{}, map[string]bool{}
			pairs := map[[2]string]bool{}
			zero, missing := 0, 0
			for _, r := range ratings {
				users[r.User] = true
				if !rated[r.ISBN] {
					rated[r.ISBN] = true
					if !inBooks[r.ISBN] {
						missing++
					}
				}
				if r.Value == 0 {
					zero++
				}
				if pairs[[2]string{r.User, r.ISBN}] {
					t.Fatalf("line %d: user %s rates %s twice", r.Line, r.User, r.ISBN)
				}
				pairs[[2]string{r.User, r.ISBN}] = true
			}
			if zero != st.Zero || len(users) != st.Users || len(rated) != st.RatedISBNs || missing != st.MissingISBNs {
				t.Errorf("read back %d zeros, %d users, %d ISBNs, %d missing; stats say %+v", zero, len(users), len(rated), missing, st)
			}
			if f := float64(zero) / float64(p.Ratings); math.Abs(f-p.ZeroFraction) > 0.02 {
				t.Errorf("zero fraction %.3f, want %.2f ± 0.02", f, p.ZeroFraction)
			}
			if f := float64(missing) / float64(len(rated)); math.Abs(f-p.MissingBookFraction) > 0.05 {
				t.Errorf("missing fraction %.3f, want %.2f ± 0.05", f, p.MissingBookFraction)
			}
		})
	}
}

// The default shape, counted without keeping the bytes (a tenth of it under
// the race detector).
func TestGenerateDefaultShape(t *testing.T) {
	t.Parallel()
	p := DefaultGenParams()
	wantUsers := [2]int{80_000, 140_000} // 105,283 of 278,858 rate in the real data
	if raceEnabled {
		p.Users, p.Books, p.Ratings = p.Users/10, p.Books/10, p.Ratings/10
		wantUsers = [2]int{8_000, 20_000}
	}
	var books, ratings lineCounter
	st, err := Generate(t.Context(), p, &books, &ratings)
	if err != nil {
		t.Fatal(err)
	}
	if books.lines != p.Books+1 || ratings.lines != p.Ratings+1 || st.Books != p.Books || st.Ratings != p.Ratings {
		t.Errorf("%d book lines, %d rating lines, stats %+v; want %d and %d plus headers", books.lines, ratings.lines, st, p.Books, p.Ratings)
	}
	if f := float64(st.Zero) / float64(st.Ratings); math.Abs(f-0.62) > 0.005 {
		t.Errorf("zero fraction %.4f, want 0.62", f)
	}
	if f := float64(st.MissingISBNs) / float64(st.RatedISBNs); math.Abs(f-0.2) > 0.02 {
		t.Errorf("missing fraction %.3f, want 0.2", f)
	}
	// Heavy-tailed activity: far fewer users rate than exist.
	if st.Users < wantUsers[0] || st.Users > wantUsers[1] {
		t.Errorf("%d users rate, want %d..%d", st.Users, wantUsers[0], wantUsers[1])
	}
}

type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	sum := func(p GenParams) uint64 {
		h := fnv.New64a()
		var ratings bytes.Buffer
		if _, err := Generate(t.Context(), p, h, &ratings); err != nil {
			t.Fatal(err)
		}
		h.Write(ratings.Bytes())
		return h.Sum64()
	}
	for _, d := range []Dialect{Kaggle, BXDump} {
		p := smallParams(d)
		a, b := sum(p), sum(p)
		if a != b {
			t.Errorf("%s: two runs with seed %d differ", d, p.Seed)
		}
		p.Seed++
		if c := sum(p); c == a {
			t.Errorf("%s: seeds %d and %d give the same bytes", d, p.Seed-1, p.Seed)
		}
	}
}

// Users rate their preferred groups 7–10 and the others 1–5, so GroupOf
// must recover, for each user, at most two groups rated high and never a
// group rated both high and low.
func TestGroupOfRecoversPlantedGroups(t *testing.T) {
	t.Parallel()
	p := smallParams(Kaggle)
	p.Groups = 5
	_, bookData, ratingData := generate(t, p)
	_, _, books, err := readAll(t, Reader{}, KindBooks, "Books.csv", bookData)
	if err != nil {
		t.Fatal(err)
	}
	group := map[string]int{}
	perGroup := make([]int, p.Groups)
	for _, b := range books {
		g, ok := GroupOf(b.Publisher)
		if !ok || g < 0 || g >= p.Groups {
			t.Fatalf("line %d: GroupOf(%q) = %d, %v", b.Line, b.Publisher, g, ok)
		}
		group[b.ISBN] = g
		perGroup[g]++
	}
	for g, n := range perGroup {
		if n < p.Books/p.Groups/2 {
			t.Errorf("group %d has %d books, want about %d", g, n, p.Books/p.Groups)
		}
	}
	_, ratings, _, err := readAll(t, Reader{}, KindRatings, "Ratings.csv", ratingData)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ high, low bool }
	byUser := map[string]map[int]*seen{}
	preferred, explicit := 0, 0
	for _, r := range ratings {
		g, ok := group[r.ISBN]
		if !ok || r.Value == 0 {
			continue
		}
		if byUser[r.User] == nil {
			byUser[r.User] = map[int]*seen{}
		}
		s := byUser[r.User][g]
		if s == nil {
			s = &seen{}
			byUser[r.User][g] = s
		}
		explicit++
		if r.Value >= 7 {
			s.high = true
			preferred++
		} else {
			s.low = true
		}
	}
	for user, gs := range byUser {
		high := 0
		for g, s := range gs {
			if s.high && s.low {
				t.Errorf("user %s rates group %d both high and low", user, g)
			}
			if s.high {
				high++
			}
		}
		if high > 2 {
			t.Errorf("user %s rates %d groups high, want at most 2", user, high)
		}
	}
	// 85 % of draws come from preferred groups, plus chance hits.
	if f := float64(preferred) / float64(explicit); f < 0.8 {
		t.Errorf("%.2f of explicit ratings are in preferred groups, want >= 0.8", f)
	}
}

func TestGroupOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		publisher string
		want      int
		ok        bool
	}{
		{"Group 007 Press", 7, true},
		{"Group 000 Press", 0, true},
		{" Group 12 Press ", 12, true},
		{"Group 1234", 1234, true},
		{publisherOf(3), 3, true},
		{"Penguin", 0, false},
		{"Group Press", 0, false},
		{"Group 7x Press", 0, false},
		{"group 7 Press", 0, false},
		{"Group 9999999999 Press", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		g, ok := GroupOf(tt.publisher)
		if g != tt.want || ok != tt.ok {
			t.Errorf("GroupOf(%q) = %d, %v; want %d, %v", tt.publisher, g, ok, tt.want, tt.ok)
		}
	}
}

func TestGenParamsValidate(t *testing.T) {
	t.Parallel()
	bad := GenParams{Users: 0, Books: 0, Ratings: -1, ZeroFraction: 1.5, MissingBookFraction: math.NaN(), Groups: 0, Dialect: "tsv"}
	err := bad.Validate()
	for _, want := range []string{"users 0", "books 0", "ratings -1", "zero fraction 1.5", "missing book fraction NaN", "groups 0", `dialect "tsv"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to report %q", err, want)
		}
	}
	crowded := GenParams{Users: 2, Books: 10, Ratings: 11, Groups: 1}
	if err := crowded.Validate(); err == nil || !strings.Contains(err.Error(), "without repeats") {
		t.Errorf("Validate() = %v, want too many ratings reported", err)
	}
	if err := DefaultGenParams().Validate(); err != nil {
		t.Errorf("DefaultGenParams().Validate() = %v", err)
	}
	if _, err := Generate(t.Context(), bad, io.Discard, io.Discard); err == nil {
		t.Error("Generate accepted invalid params")
	}
}

func TestGenerateCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Generate(ctx, smallParams(Kaggle), io.Discard, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestGenerateWriteError(t *testing.T) {
	t.Parallel()
	full := errors.New("disk full")
	_, err := Generate(t.Context(), smallParams(Kaggle), io.Discard, errWriter{full})
	if !errors.Is(err, full) {
		t.Fatalf("err = %v, want the write error", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// The smallest valid params: one user rates the one book, and only the
// quirk that fits in one row is planted.
func TestGenerateMinimal(t *testing.T) {
	t.Parallel()
	p := GenParams{Users: 1, Books: 1, Ratings: 1, Groups: 1, Seed: 3, Quirks: true}
	st, bookData, ratingData := generate(t, p)
	if st.Books != 1 || st.Ratings != 1 || st.Users != 1 || st.RatedISBNs != 1 || st.MissingISBNs != 0 {
		t.Errorf("stats %+v, want one of each and nothing missing", st)
	}
	brep, _, books, err := readAll(t, Reader{}, KindBooks, "Books.csv", bookData)
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 1 || !maps.Equal(brep.Repaired, counts{RepairShiftedRow: 1}) || !maps.Equal(st.Quirks, counts{RepairShiftedRow: 1}) {
		t.Errorf("books %+v, repaired %v, stats quirks %v; want the shifted row only", books, brep.Repaired, st.Quirks)
	}
	_, ratings, _, err := readAll(t, Reader{}, KindRatings, "Ratings.csv", ratingData)
	if err != nil {
		t.Fatal(err)
	}
	if len(ratings) != 1 || ratings[0].User != "1" || ratings[0].ISBN != books[0].ISBN {
		t.Errorf("ratings %+v, want user 1 rating %s", ratings, books[0].ISBN)
	}
}
