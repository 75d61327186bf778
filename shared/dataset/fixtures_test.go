package dataset

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny from tinyFixture")

const testdata = "../../testdata"

// readAll reads a file of the given kind and returns the report and the
// rows handed out, checking the invariants every read must keep.
func readAll(t *testing.T, rd Reader, kind Kind, name string, data []byte) (Report, []Rating, []Book, error) {
	t.Helper()
	var ratings []Rating
	var books []Book
	var rep Report
	var err error
	switch kind {
	case KindRatings:
		rep, err = rd.ReadRatings(t.Context(), bytes.NewReader(data), name, func(r Rating) error {
			ratings = append(ratings, r)
			return nil
		})
	case KindBooks:
		rep, err = rd.ReadBooks(t.Context(), bytes.NewReader(data), name, func(b Book) error {
			books = append(books, b)
			return nil
		})
	}
	if err == nil {
		if got := rep.Accepted + rep.DroppedTotal(); got != rep.Rows {
			t.Errorf("%s: accepted %d + dropped %d != rows %d", name, rep.Accepted, rep.DroppedTotal(), rep.Rows)
		}
		if n := int64(len(ratings) + len(books)); n != rep.Accepted {
			t.Errorf("%s: %d rows handed out, report says %d accepted", name, n, rep.Accepted)
		}
	}
	return rep, ratings, books, err
}

func readFixture(t *testing.T, kind Kind, rel string) (Report, []Rating, []Book, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, rel))
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, Reader{}, kind, filepath.Base(rel), data)
}

type counts = map[string]int64

// TestFixtures pins the exact counts for every file in testdata (see
// testdata/README.md for what each one holds).
func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		kind     Kind
		err      error
		dialect  Dialect
		rows     int64
		accepted int64
		dropped  counts
		repaired counts
	}{
		{file: "bad/empty.csv", kind: KindRatings, err: ErrEmpty},
		{file: "bad/empty.csv", kind: KindBooks, err: ErrEmpty},
		{file: "bad/ratings-wrong-header.csv", kind: KindRatings, err: ErrHeader},
		{file: "bad/books-wrong-header.csv", kind: KindBooks, err: ErrHeader},
		{file: "bad/ratings-headerless.csv", kind: KindRatings, err: ErrHeader},
		{file: "bad/books-shifted.csv", kind: KindRatings, err: ErrHeader}, // a books file read as ratings
		{file: "bad/ratings-header-only.csv", kind: KindRatings, dialect: Kaggle},
		{file: "bad/ratings-bom-crlf.csv", kind: KindRatings, dialect: Kaggle, rows: 3, accepted: 3},
		{file: "bad/ratings-not-numeric.csv", kind: KindRatings, dialect: Kaggle, rows: 6, accepted: 3,
			dropped: counts{ReasonRatingNotNumeric: 3}},
		{file: "bad/ratings-out-of-range.csv", kind: KindRatings, dialect: Kaggle, rows: 5, accepted: 2,
			dropped: counts{ReasonRatingOutOfRange: 3}},
		{file: "bad/ratings-malformed.csv", kind: KindRatings, dialect: Kaggle, rows: 11, accepted: 5,
			dropped: counts{ReasonWrongFieldCount: 2, ReasonEmptyUser: 1, ReasonEmptyISBN: 1, ReasonInvalidQuoting: 2}},
		{file: "bad/bx-ratings.csv", kind: KindRatings, dialect: BXDump, rows: 6, accepted: 4,
			dropped: counts{ReasonRatingOutOfRange: 1, ReasonWrongFieldCount: 1}},
		{file: "bad/books-shifted.csv", kind: KindBooks, dialect: Kaggle, rows: 6, accepted: 4,
			dropped: counts{ReasonYearNotNumeric: 2}, repaired: counts{RepairShiftedRow: 3}},
		{file: "bad/books-entities.csv", kind: KindBooks, dialect: Kaggle, rows: 4, accepted: 4,
			repaired: counts{RepairHTMLEntity: 2}},
		{file: "bad/books-latin1.csv", kind: KindBooks, dialect: Kaggle, rows: 4, accepted: 4,
			repaired: counts{RepairLatin1: 3}},
		{file: "bad/books-years.csv", kind: KindBooks, dialect: Kaggle, rows: 7, accepted: 7,
			repaired: counts{RepairYearZero: 1, RepairYearOutOfRange: 1, RepairYearMissing: 1}},
		{file: "bad/books-malformed.csv", kind: KindBooks, dialect: Kaggle, rows: 6, accepted: 1,
			dropped: counts{ReasonEmptyISBN: 1, ReasonWrongFieldCount: 2, ReasonInvalidQuoting: 2}},
		{file: "bad/bx-books.csv", kind: KindBooks, dialect: BXDump, rows: 5, accepted: 4,
			dropped:  counts{ReasonInvalidQuoting: 1},
			repaired: counts{RepairShiftedRow: 1, RepairHTMLEntity: 1, RepairYearZero: 1, RepairYearOutOfRange: 1}},
		{file: "bad/ratings-export-header.csv", kind: KindRatings, dialect: Kaggle, rows: 3, accepted: 3},
		{file: "bad/ratings-reordered.csv", kind: KindRatings, dialect: Kaggle, rows: 3, accepted: 2,
			dropped: counts{ReasonRatingNotNumeric: 1}},
		{file: "bad/ratings-control.csv", kind: KindRatings, dialect: Kaggle, rows: 8, accepted: 3,
			dropped: counts{ReasonControlCharacter: 5}},
		{file: "bad/ratings-duplicates.csv", kind: KindRatings, dialect: Kaggle, rows: 8, accepted: 8},
		{file: "bad/books-no-images.csv", kind: KindBooks, dialect: Kaggle, rows: 2, accepted: 2},
		{file: "bad/books-no-large-image.csv", kind: KindBooks, dialect: Kaggle, rows: 1, accepted: 1},
		{file: "bad/books-multiline.csv", kind: KindBooks, dialect: Kaggle, rows: 6, accepted: 4,
			dropped: counts{ReasonInvalidQuoting: 1, ReasonControlCharacter: 1}},
		{file: "bad/bx-books-multiline.csv", kind: KindBooks, dialect: BXDump, rows: 5, accepted: 4,
			dropped: counts{ReasonControlCharacter: 1}, repaired: counts{RepairShiftedRow: 1}},
		{file: "tiny/Books.csv", kind: KindBooks, dialect: Kaggle, rows: 30, accepted: 30},
		{file: "tiny/Ratings.csv", kind: KindRatings, dialect: Kaggle, rows: 364, accepted: 364},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s as %s", tt.file, tt.kind), func(t *testing.T) {
			t.Parallel()
			rep, _, _, err := readFixture(t, tt.kind, tt.file)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Dialect != tt.dialect || rep.Rows != tt.rows || rep.Accepted != tt.accepted {
				t.Errorf("dialect %s rows %d accepted %d, want %s %d %d", rep.Dialect, rep.Rows, rep.Accepted, tt.dialect, tt.rows, tt.accepted)
			}
			if tt.dropped == nil {
				tt.dropped = counts{}
			}
			if tt.repaired == nil {
				tt.repaired = counts{}
			}
			if !maps.Equal(rep.Dropped, tt.dropped) {
				t.Errorf("dropped %v, want %v", rep.Dropped, tt.dropped)
			}
			if !maps.Equal(rep.Repaired, tt.repaired) {
				t.Errorf("repaired %v, want %v", rep.Repaired, tt.repaired)
			}
			for _, ex := range rep.Examples {
				if ex.File != filepath.Base(tt.file) || ex.Line < 2 || ex.Reason == "" {
					t.Errorf("example %+v does not name file, line and reason", ex)
				}
			}
		})
	}
}

// TestFixtureValues checks what the readers make of the quirky rows.
func TestFixtureValues(t *testing.T) {
	t.Parallel()
	url := func(size, id string) string { return "http://img.example/" + size + "/" + id + ".jpg" }
	t.Run("books-shifted", func(t *testing.T) {
		t.Parallel()
		_, _, books, err := readFixture(t, KindBooks, "bad/books-shifted.csv")
		if err != nil {
			t.Fatal(err)
		}
		want := []Book{
			{ISBN: "0000000010", Title: "A Plain Title", Author: "Ann Author", Year: 1999, Publisher: "Plain Press",
				ImageSmall: url("s", "10"), ImageMedium: url("m", "10"), ImageLarge: url("l", "10"), Line: 2},
			{ISBN: "000000002X", Title: "Readers: A Merged Title (Level 4)", Author: "Bob Writer", Year: 2000,
				Publisher: "Example Publishing Inc", ImageSmall: url("s", "2X"), ImageMedium: url("m", "2X"), ImageLarge: url("l", "2X"), Line: 3},
			{ISBN: "0000000030", Title: "Contes, suivi de 'Les Jardins", Author: "Claire Auteur", Year: 2003,
				Publisher: "Maison Exemple", ImageSmall: url("s", "30"), ImageMedium: url("m", "30"), ImageLarge: url("l", "30"), Line: 4},
			{ISBN: "0000000060", Title: "Another Merged", Author: "Fay Writer", Year: 1998,
				Publisher: "Example House", ImageSmall: url("s", "60"), ImageMedium: url("m", "60"), ImageLarge: url("l", "60"), Line: 7},
		}
		equalBooks(t, books, want)
	})
	t.Run("bx-books", func(t *testing.T) {
		t.Parallel()
		_, _, books, err := readFixture(t, KindBooks, "bad/bx-books.csv")
		if err != nil {
			t.Fatal(err)
		}
		want := []Book{
			{ISBN: "0000000010", Title: `Café "Noir"; a Story`, Author: "Renée Author", Year: 2001, Publisher: "Example Press",
				ImageSmall: url("s", "10"), ImageMedium: url("m", "10"), ImageLarge: url("l", "10"), Line: 2},
			{ISBN: "000000002X", Title: "Readers: A Merged Title (Level 4)", Author: "Bob Writer", Year: 2000,
				Publisher: "Example Publishing Inc", ImageSmall: url("s", "2X"), ImageMedium: url("m", "2X"), ImageLarge: url("l", "2X"), Line: 3},
			{ISBN: "0000000030", Title: "Salt & Stone", Author: "Ann Author", Year: 0, Publisher: "Smith & Sons",
				ImageSmall: url("s", "30"), ImageMedium: url("m", "30"), ImageLarge: url("l", "30"), Line: 4},
			{ISBN: "0000000040", Title: `Back\slash € Euro`, Author: "Cy Author", Year: 0, Publisher: "Example Press",
				ImageSmall: url("s", "40"), ImageMedium: url("m", "40"), ImageLarge: url("l", "40"), Line: 5},
		}
		equalBooks(t, books, want)
	})
	t.Run("books-multiline", func(t *testing.T) {
		t.Parallel()
		_, _, books, err := readFixture(t, KindBooks, "bad/books-multiline.csv")
		if err != nil {
			t.Fatal(err)
		}
		want := []Book{
			{ISBN: "0000000010", Title: "A Title On Two Lines", Author: "Ann Author", Year: 2001, Publisher: "Example Press",
				ImageSmall: url("s", "10"), ImageMedium: url("m", "10"), ImageLarge: url("l", "10"), Line: 2},
			{ISBN: "0000000020", Title: "Three Lines", Author: "Bob Writer", Year: 2002, Publisher: "Example Press",
				ImageSmall: url("s", "20"), ImageMedium: url("m", "20"), ImageLarge: url("l", "20"), Line: 4},
			{ISBN: "0000000040", Title: "Plain Row", Author: "Di Author", Year: 2004, Publisher: "Example Press",
				ImageSmall: url("s", "40"), ImageMedium: url("m", "40"), ImageLarge: url("l", "40"), Line: 9},
			{ISBN: "0000000060", Title: "Quoted, Last", Author: "Fay Writer", Year: 2006, Publisher: "Example Press",
				ImageSmall: url("s", "60"), ImageMedium: url("m", "60"), ImageLarge: url("l", "60"), Line: 11},
		}
		equalBooks(t, books, want)
	})
	t.Run("bx-books-multiline", func(t *testing.T) {
		t.Parallel()
		_, _, books, err := readFixture(t, KindBooks, "bad/bx-books-multiline.csv")
		if err != nil {
			t.Fatal(err)
		}
		want := []Book{
			{ISBN: "0000000010", Title: `Café "Noir"`, Author: "Renée Author", Year: 2001, Publisher: "Example Press",
				ImageSmall: url("s", "10"), ImageMedium: url("m", "10"), ImageLarge: url("l", "10"), Line: 2},
			{ISBN: "000000002X", Title: "Readers: A Merged Title (Level 4)", Author: "Bob Writer", Year: 2000,
				Publisher: "Example Publishing Inc", ImageSmall: url("s", "2X"), ImageMedium: url("m", "2X"), ImageLarge: url("l", "2X"), Line: 4},
			{ISBN: "0000000030", Title: "Ends In A Backslash Then Goes On", Author: "Cy Author", Year: 2003, Publisher: "Example Press",
				ImageSmall: url("s", "30"), ImageMedium: url("m", "30"), ImageLarge: url("l", "30"), Line: 5},
			{ISBN: "0000000050", Title: "Last Row", Author: "Ed Author", Year: 2005, Publisher: "Example Press",
				ImageSmall: url("s", "50"), ImageMedium: url("m", "50"), ImageLarge: url("l", "50"), Line: 8},
		}
		equalBooks(t, books, want)
	})
	t.Run("books-no-images", func(t *testing.T) {
		t.Parallel()
		var got []Book
		for _, f := range []string{"bad/books-no-images.csv", "bad/books-no-large-image.csv"} {
			_, _, books, err := readFixture(t, KindBooks, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, books...)
		}
		want := []Book{
			{ISBN: "0000000010", Title: "A Title", Author: "Ann Author", Year: 1999, Publisher: "Plain Press", Line: 2},
			{ISBN: "000000002X", Title: "Second, Title", Author: "Bob Writer", Year: 2000, Publisher: "Other Press", Line: 3},
			{ISBN: "0000000010", Title: "A Title", Author: "Ann Author", Year: 1999, Publisher: "Plain Press",
				ImageSmall: url("s", "10"), ImageMedium: url("m", "10"), Line: 2},
		}
		equalBooks(t, got, want)
	})
	t.Run("books-text", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, f := range []string{"bad/books-entities.csv", "bad/books-latin1.csv", "bad/books-years.csv"} {
			_, _, books, err := readFixture(t, KindBooks, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range books {
				got = append(got, fmt.Sprintf("%s|%s|%s|%d|%s", b.ISBN, b.Title, b.Author, b.Year, b.Publisher))
			}
		}
		want := []string{
			"0000000010|Salt & Stone|Ann & Bob|2001|Smith & Sons",
			`0000000020|Tom "Thumb" édition|Cy Author|2002|Example Press`,
			"0000000030|AT&T Manual|Di Author|2003|A&B Press",
			`0000000040|Quoted, with "comma"|Ed Author|2004|Example Press`,
			"0000000010|Café Stories|Renée Author|2001|Example Press",
			"0000000020|\u201cSmart Quotes\u201d|Al Author|2002|Example Press",
			"0000000030|Proper UTF-8 Café|Zoë Author|2003|Example Press",
			"0000000040|Mixed Café and Café|Bo Author|2004|Example Press",
			"0000000010|Year Zero|Ann Author|0|Example Press",
			"0000000020|Far Future|Ann Author|0|Example Press",
			"0000000030|No Year|Ann Author|0|Example Press",
			"0000000040|Normal Year|Ann Author|1995|Example Press",
			"0000000050|Very Old|Ann Author|1376|Example Press",
			"000000006x|Lowercase Letter ISBN|Ann Author|2000|Example Press",
			"000000007X|Spaced ISBN|Ann Author|2000|Example Press",
		}
		equalStrings(t, got, want)
	})
	t.Run("ratings", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, f := range []string{"bad/ratings-bom-crlf.csv", "bad/ratings-malformed.csv", "bad/bx-ratings.csv",
			"bad/ratings-export-header.csv", "bad/ratings-reordered.csv", "bad/ratings-control.csv"} {
			_, ratings, _, err := readFixture(t, KindRatings, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range ratings {
				got = append(got, fmt.Sprintf("%d:%s|%s|%d", r.Line, r.User, r.ISBN, r.Value))
			}
		}
		want := []string{
			"2:1|0000000010|5", "3:2|0000000010|0", "4:3|000000002X|9",
			"2:1|0000000010|5", "3:1|0000000010|5", `12:7|000000001"0|6`, "13:8|0000000030|7", "14:9|0000000010|4",
			"2:1|0000000010|5", "3:2|0000000010|0", "4:3|000000002é|7", `7:6|00000"00030|4`,
			"2:1|0000000010|5", "3:2|0000000010|0", "4:3|000000002X|9",
			"2:1|0000000010|5", "4:3|000000003X|7",
			"2:1|0000000010|5", "7:6|0000000010|5", "10:8|0000000020|6",
		}
		equalStrings(t, got, want)
	})
	t.Run("issues", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, f := range []string{"bad/ratings-out-of-range.csv", "bad/ratings-malformed.csv", "bad/books-latin1.csv",
			"bad/ratings-reordered.csv", "bad/ratings-control.csv", "bad/books-multiline.csv", "bad/bx-books-multiline.csv"} {
			rep, _, _, err := readFixture(t, kindOf(f), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range rep.Examples {
				got = append(got, ex.Error())
			}
		}
		want := []string{
			`ratings-out-of-range.csv:3: column Book-Rating: rating_out_of_range: "11"`,
			`ratings-out-of-range.csv:4: column Book-Rating: rating_out_of_range: "-1"`,
			`ratings-out-of-range.csv:5: column Book-Rating: rating_out_of_range: "99999999999999999999"`,
			`ratings-malformed.csv:4: wrong_field_count: 2 fields, want 3`,
			`ratings-malformed.csv:5: wrong_field_count: 4 fields, want 3`,
			`ratings-malformed.csv:6: column User-ID: empty_user: ""`,
			`ratings-malformed.csv:7: column ISBN: empty_isbn: ""`,
			`ratings-malformed.csv:8: column ISBN: invalid_quoting: "5,\"0000000010,5"`,
			`ratings-malformed.csv:9: column ISBN: invalid_quoting: "6,\"0000000010\"x,5"`,
			`books-latin1.csv:2: column Book-Title: latin1_transcoded: "Caf\xe9 Stories"`,
			`books-latin1.csv:3: column Book-Title: latin1_transcoded: "\x93Smart Quotes\x94"`,
			`books-latin1.csv:5: column Book-Title: latin1_transcoded: "Mixed Café and Caf\xe9"`,
			`ratings-reordered.csv:3: column Book-Rating: rating_not_numeric: "x"`,
			`ratings-control.csv:3: column ISBN: control_character: "00000\x0000010"`,
			`ratings-control.csv:4: column User-ID: control_character: "\x003"`,
			`ratings-control.csv:5: column ISBN: control_character: "0000\t000010"`,
			`books-multiline.csv:8: column Book-Title: invalid_quoting: "0000000030,\"Open quote,Cy Author,2003,Example Pr"...`,
			`books-multiline.csv:10: column ISBN: control_character: "00000\x0000050"`,
			`bx-books-multiline.csv:4: column Year-Of-Publication: shifted_row: "Example Publishing Inc"`,
			`bx-books-multiline.csv:7: column ISBN: control_character: "00000\x0000040"`,
		}
		equalStrings(t, got, want)
	})
}

func kindOf(file string) Kind {
	if bytes.Contains([]byte(file), []byte("books")) {
		return KindBooks
	}
	return KindRatings
}

func equalBooks(t *testing.T, got, want []Book) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d books, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("book %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func equalStrings(t *testing.T, got, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("[%d]:\n got %q\nwant %q", i, g, w)
		}
	}
}

// tinyFixture builds testdata/tiny: 3 groups of 10 books (publisher "Group
// 00g Press"), 40 users who each prefer one group (every fifth user a second
// one) and rate 6 of its books 7–10, one book of another group 1–5 and one 0;
// every other user also rates the preferred group's ISBN that is missing
// from Books.csv. Every book and every missing ISBN gets at least 5 explicit
// ratings and every user at least 7, so the whole pipeline runs on it.
func tinyFixture() (books, ratings []byte) {
	const groups, perGroup, users = 3, 10, 40
	w := csvWriter{d: Kaggle}
	isbn := func(g, b int) string { return isbnOf(100*g + b) }
	missing := func(g int) string { return isbnOf(100*g + 50) }
	w.row(KindBooks.Columns())
	books = append(books, w.buf...)
	for g := range groups {
		for b := range perGroup {
			k := g*perGroup + b
			title := "The " + genAdjectives[k%len(genAdjectives)] + " " + genNouns[(g*7+b)%len(genNouns)]
			if k == 0 {
				title = `Salt, Stone and "Sky"`
			}
			id := isbn(g, b)
			w.row([]string{id, title, genFirst[k%len(genFirst)] + " " + genLast[k%len(genLast)],
				fmt.Sprint(1990 + k%15), publisherOf(g),
				"http://images.example.com/P/" + id + ".01.THUMBZZZ.jpg",
				"http://images.example.com/P/" + id + ".01.MZZZZZZZ.jpg",
				"http://images.example.com/P/" + id + ".01.LZZZZZZZ.jpg"})
			books = append(books, w.buf...)
		}
	}
	w.row(KindRatings.Columns())
	ratings = append(ratings, w.buf...)
	rate := func(u int, isbn string, v int) {
		ratings = fmt.Appendf(ratings, "%d,%s,%d\n", u+1, isbn, v)
	}
	for u := range users {
		p := u % groups
		start := (u / groups * 3) % perGroup
		for k := range 6 {
			rate(u, isbn(p, (start+k)%perGroup), 7+(u+k)%4)
		}
		if u%5 == 0 {
			for k := range 3 {
				rate(u, isbn((p+1)%groups, (u+k)%perGroup), 7+(u+k+1)%4)
			}
		}
		other := (p + 2) % groups
		rate(u, isbn(other, u%perGroup), 1+u%5)
		rate(u, isbn(other, (u+5)%perGroup), 0)
		if u%2 == 0 {
			rate(u, missing(p), 8+u%3)
		}
	}
	return books, ratings
}

// TestTinyFixture keeps testdata/tiny equal to tinyFixture (regenerate
// with -update) and checks the property the pipeline tests rely on.
func TestTinyFixture(t *testing.T) {
	t.Parallel()
	books, ratings := tinyFixture()
	for name, want := range map[string][]byte{"Books.csv": books, "Ratings.csv": ratings} {
		path := filepath.Join(testdata, "tiny", name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from tinyFixture(); run go test -run TestTinyFixture -update", path)
		}
	}
	_, _, bs, err := readAll(t, Reader{}, KindBooks, "Books.csv", books)
	if err != nil {
		t.Fatal(err)
	}
	_, rs, _, err := readAll(t, Reader{}, KindRatings, "Ratings.csv", ratings)
	if err != nil {
		t.Fatal(err)
	}
	inBooks := map[string]bool{}
	for _, b := range bs {
		inBooks[b.ISBN] = true
		if _, ok := GroupOf(b.Publisher); !ok {
			t.Errorf("book %s: no group in publisher %q", b.ISBN, b.Publisher)
		}
	}
	perUser, perBook := map[string]int{}, map[string]int{}
	seen := map[[2]string]bool{}
	for _, r := range rs {
		if seen[[2]string{r.User, r.ISBN}] {
			t.Errorf("user %s rates %s twice", r.User, r.ISBN)
		}
		seen[[2]string{r.User, r.ISBN}] = true
		if r.Value > 0 {
			perUser[r.User]++
			perBook[r.ISBN]++
		}
	}
	if len(perUser) != 40 {
		t.Errorf("%d users with explicit ratings, want 40", len(perUser))
	}
	missing := 0
	for isbn, n := range perBook {
		if n < 5 {
			t.Errorf("ISBN %s has %d explicit ratings, want >= 5", isbn, n)
		}
		if !inBooks[isbn] {
			missing++
		}
	}
	for user, n := range perUser {
		if n < 5 {
			t.Errorf("user %s has %d explicit ratings, want >= 5", user, n)
		}
	}
	if len(perBook) != 33 || missing != 3 {
		t.Errorf("%d rated ISBNs, %d of them missing from Books.csv; want 33 and 3", len(perBook), missing)
	}
}
