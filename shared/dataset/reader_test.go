package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"runtime"
	"strings"
	"testing"
)

const ratingsHeader = "User-ID,ISBN,Book-Rating\n"

// repeatReader yields an endless run of one byte without holding it.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// A 10 MB line is skipped as line_too_long without being held: the read
// allocates a small fraction of it. Not parallel: it measures the process's
// allocations.
func TestReadRatingsHugeLine(t *testing.T) {
	const huge = 10 << 20
	r := io.MultiReader(
		strings.NewReader(ratingsHeader+"1,0000000010,5\n"),
		io.LimitReader(repeatReader('x'), huge),
		strings.NewReader("\n2,0000000010,6\n"),
	)
	var got []Rating
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep, err := ReadRatings(t.Context(), r, "Ratings.csv", func(r Rating) error {
		got = append(got, r)
		return nil
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 3 || rep.Accepted != 2 || !maps.Equal(rep.Dropped, counts{ReasonLineTooLong: 1}) {
		t.Errorf("report %+v, want 3 rows, 2 accepted, 1 line_too_long", rep)
	}
	if len(got) != 2 || got[1].Line != 4 || got[1].Value != 6 {
		t.Errorf("ratings %+v, want the rows of lines 2 and 4", got)
	}
	want := "Ratings.csv:3: line_too_long: longer than 1048576 bytes"
	if len(rep.Examples) != 1 || rep.Examples[0].Error() != want {
		t.Errorf("examples %v, want [%s]", rep.Examples, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > huge/4 {
		t.Errorf("allocated %d bytes reading a %d-byte line, want well under it", alloc, huge)
	}
}

func TestReaderLimits(t *testing.T) {
	t.Parallel()
	row := func(isbnLen int) string { return "1," + strings.Repeat("9", isbnLen) + ",5" }
	tests := []struct {
		name      string
		maxRecord int
		body      string
		accepted  int64
		tooLong   int64
	}{
		{"at the limit", 20, row(16) + "\n", 1, 0},
		{"one over", 20, row(17) + "\n", 0, 1},
		{"crlf does not count", 20, row(16) + "\r\n", 1, 0},
		{"longer than the read buffer", 1 << 20, row(200_000) + "\n" + row(10) + "\n", 2, 0},
		{"default limit", 0, row(DefaultMaxRecord) + "\n" + row(10), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, _, _, err := readAll(t, Reader{MaxRecord: tt.maxRecord}, KindRatings, "Ratings.csv", []byte(ratingsHeader+tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != tt.accepted || rep.Dropped[ReasonLineTooLong] != tt.tooLong {
				t.Errorf("accepted %d, too long %d; want %d, %d", rep.Accepted, rep.Dropped[ReasonLineTooLong], tt.accepted, tt.tooLong)
			}
		})
	}
}

func TestReadBooksMaxYear(t *testing.T) {
	t.Parallel()
	body := "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S,Image-URL-M,Image-URL-L\n" +
		"1,T,A,2001,P,s,m,l\n1,T,A,2002,P,s,m,l\n"
	rep, _, books, err := readAll(t, Reader{MaxYear: 2001}, KindBooks, "Books.csv", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != 2 || books[0].Year != 2001 || books[1].Year != 0 || rep.Repaired[RepairYearOutOfRange] != 1 {
		t.Errorf("books %+v, repaired %v; want 2001 kept and 2002 read as 0", books, rep.Repaired)
	}
}

func TestReadCancelled(t *testing.T) {
	t.Parallel()
	var ratings bytes.Buffer
	p := GenParams{Users: 1000, Books: 200, Ratings: 3 * ctxEvery, Groups: 2, Seed: 1}
	if _, err := Generate(t.Context(), p, io.Discard, &ratings); err != nil {
		t.Fatal(err)
	}
	t.Run("before", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := ReadRatings(ctx, bytes.NewReader(ratings.Bytes()), "Ratings.csv", func(Rating) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rep, err := ReadRatings(ctx, bytes.NewReader(ratings.Bytes()), "Ratings.csv", func(Rating) error {
			cancel()
			return nil
		})
		if err != context.Canceled {
			t.Fatalf("err = %v, want ctx.Err() itself", err)
		}
		if rep.Accepted == 0 || rep.Accepted > ctxEvery {
			t.Errorf("accepted %d rows after cancelling at the first, want at most %d", rep.Accepted, ctxEvery)
		}
	})
}

func TestReadCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop here")
	body := ratingsHeader + "1,0000000010,5\n2,0000000010,6\n3,0000000010,7\n"
	rep, err := ReadRatings(t.Context(), strings.NewReader(body), "Ratings.csv", func(r Rating) error {
		if r.User == "2" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || err.Error() != "Ratings.csv line 3: stop here" {
		t.Fatalf("err = %v, want stop wrapped with file and line", err)
	}
	if rep.Rows != 2 {
		t.Errorf("rows %d, want 2", rep.Rows)
	}
	books := "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S,Image-URL-M,Image-URL-L\n1,T,A,2001,P,s,m,l\n"
	_, err = ReadBooks(t.Context(), strings.NewReader(books), "Books.csv", func(Book) error { return stop })
	if !errors.Is(err, stop) || err.Error() != "Books.csv line 2: stop here" {
		t.Fatalf("err = %v, want stop wrapped with file and line", err)
	}
}

type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func TestReadIOError(t *testing.T) {
	t.Parallel()
	r := failingReader{strings.NewReader(ratingsHeader + "1,0000000010,5\n")}
	rep, err := ReadRatings(t.Context(), r, "Ratings.csv", func(Rating) error { return nil })
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "read Ratings.csv line 3: ") {
		t.Fatalf("err = %v, want the read error with file and line", err)
	}
	if rep.Accepted != 1 {
		t.Errorf("accepted %d before the error, want 1", rep.Accepted)
	}
}

func TestExamplesCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(ratingsHeader)
	for range 10 {
		b.WriteString("1,2,x\n1,2,11\n1,,3\n,2,3\n1,2\n1,\"2,3\n1,2,3,4\n1,2," + strings.Repeat("9", 40) + "\n")
	}
	rep, _, _, err := readAll(t, Reader{MaxRecord: 30}, KindRatings, "Ratings.csv", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Examples) != MaxExamples {
		t.Fatalf("%d examples, want %d", len(rep.Examples), MaxExamples)
	}
	byReason := map[string]int{}
	for _, ex := range rep.Examples {
		byReason[ex.Reason]++
	}
	for reason, n := range byReason {
		if n > maxExamplesByReason {
			t.Errorf("%d examples of %s, want at most %d", n, reason, maxExamplesByReason)
		}
	}
	if rep.DroppedTotal() != 80 {
		t.Errorf("dropped %d, want 80", rep.DroppedTotal())
	}
}
