package dataset

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"
)

const (
	bxRatingsHeader = `"User-ID";"ISBN";"Book-Rating"` + "\n"
	booksHeader     = "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S,Image-URL-M,Image-URL-L\n"
)

// ratingLines renders ratings as "line:user|isbn|value".
func ratingLines(rs []Rating) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d:%s|%s|%d", r.Line, r.User, r.ISBN, r.Value))
	}
	return out
}

func TestQuotedNewlines(t *testing.T) {
	t.Parallel()
	blank := func(n int) string { return strings.Repeat("\n", n) }
	tests := []struct {
		name    string
		header  string
		body    string
		rd      Reader
		want    []string // line:user|isbn|value of the ratings handed out
		dropped counts
	}{
		{name: "newline in a quoted rating", body: "1,0000000010,\"5\n\"\n2,0000000010,6\n",
			want: []string{"2:1|0000000010|5", "4:2|0000000010|6"}},
		{name: "crlf in quotes", body: "1,0000000010,\"5\r\n\"\r\n2,0000000010,6\r\n",
			want: []string{"2:1|0000000010|5", "4:2|0000000010|6"}},
		{name: "blank lines in quotes", body: "1,0000000010,\"5\n\n\n\"\n2,0000000010,6\n",
			want: []string{"2:1|0000000010|5", "6:2|0000000010|6"}},
		{name: "newline in an isbn is a control character", body: "1,\"00000\n00010\",5\n2,0000000010,6\n",
			want: []string{"4:2|0000000010|6"}, dropped: counts{ReasonControlCharacter: 1}},
		{name: "open quote at the end of the file", body: "1,0000000010,5\n2,\"0000000010,6\n",
			want: []string{"2:1|0000000010|5"}, dropped: counts{ReasonInvalidQuoting: 1}},
		{name: "open quote never closed costs one row", body: "1,\"0000000010,5\n2,0000000010,6\n3,0000000010,7\n",
			want: []string{"3:2|0000000010|6", "4:3|0000000010|7"}, dropped: counts{ReasonInvalidQuoting: 1}},
		{name: "junk after the closing quote puts the lines back", body: "1,\"0000000010,5\n2,\"0000000010\",6\n",
			want: []string{"3:2|0000000010|6"}, dropped: counts{ReasonInvalidQuoting: 1}},
		{name: "wrong field count puts the lines back", body: "1,\"0000000010,5\n2,0000000010\",6,7\n3,0000000010,7\n",
			want: []string{"4:3|0000000010|7"}, dropped: counts{ReasonInvalidQuoting: 1, ReasonWrongFieldCount: 1}},
		{name: "a put back line opens a quote too", body: "1,\"a\n2,\"b\n3,0000000010,7\n",
			want: []string{"4:3|0000000010|7"}, dropped: counts{ReasonInvalidQuoting: 2}},
		{name: "at the line limit", body: "1,0000000010,\"5" + blank(maxRecordLines-1) + "\"\n3,0000000010,7\n",
			want: []string{"2:1|0000000010|5", fmt.Sprintf("%d:3|0000000010|7", 2+maxRecordLines)}},
		{name: "over the line limit", body: "1,0000000010,\"5" + blank(maxRecordLines) + "\"\n3,0000000010,7\n",
			want:    []string{fmt.Sprintf("%d:3|0000000010|7", 3+maxRecordLines)},
			dropped: counts{ReasonInvalidQuoting: 2}},
		{name: "over the byte limit", rd: Reader{MaxRecord: 30},
			body:    "1,0000000010,\"5\n" + strings.Repeat(" ", 20) + "\"\n3,0000000010,7\n",
			want:    []string{"4:3|0000000010|7"},
			dropped: counts{ReasonInvalidQuoting: 1, ReasonWrongFieldCount: 1}},
		{name: "too long line inside a join", rd: Reader{MaxRecord: 30},
			body:    "1,0000000010,\"5\n" + strings.Repeat("x", 40) + "\"\n3,0000000010,7\n",
			want:    []string{"4:3|0000000010|7"},
			dropped: counts{ReasonInvalidQuoting: 1, ReasonLineTooLong: 1}},
		{name: "bx newline in quotes", header: bxRatingsHeader, body: "\"1\";\"0000000010\";\"5\n\"\n\"2\";\"0000000010\";\"6\"\n",
			want: []string{"2:1|0000000010|5", "4:2|0000000010|6"}},
		{name: "bx backslash before the newline", header: bxRatingsHeader, body: "\"1\";\"0000000010\";\"5\\\n\"\n\"2\";\"0000000010\";\"6\"\n",
			want: []string{"2:1|0000000010|5", "4:2|0000000010|6"}},
		{name: "bx escaped quote does not close", header: bxRatingsHeader, body: "\"1\";\"0000000010\";\"5\\\"\n\"2\";\"0000000010\";\"6\"\n",
			want: []string{"3:2|0000000010|6"}, dropped: counts{ReasonInvalidQuoting: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.header == "" {
				tt.header = ratingsHeader
			}
			rep, ratings, _, err := readAll(t, tt.rd, KindRatings, "Ratings.csv", []byte(tt.header+tt.body))
			if err != nil {
				t.Fatal(err)
			}
			equalStrings(t, ratingLines(ratings), tt.want)
			if tt.dropped == nil {
				tt.dropped = counts{}
			}
			if !maps.Equal(rep.Dropped, tt.dropped) {
				t.Errorf("dropped %v, want %v", rep.Dropped, tt.dropped)
			}
		})
	}
}

func TestControlCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   Kind
		input  string
		want   string // ISBN handed out, "" when the row is dropped
		reason string // why it is dropped
		column string
	}{
		{name: "nul in isbn", kind: KindRatings, input: ratingsHeader + "1,00000\x0010,5\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "nul in user", kind: KindRatings, input: ratingsHeader + "1\x00,0000000010,5\n", reason: ReasonControlCharacter, column: colUser},
		{name: "soh", kind: KindRatings, input: ratingsHeader + "1,\x010000000010,5\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "unit separator", kind: KindRatings, input: ratingsHeader + "1,0000000010\x1f,5\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "del", kind: KindRatings, input: ratingsHeader + "1,0000\x7f000010,5\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "tab inside", kind: KindRatings, input: ratingsHeader + "1\t2,0000000010,5\n", reason: ReasonControlCharacter, column: colUser},
		{name: "surrounding tabs are trimmed", kind: KindRatings, input: ratingsHeader + "\t1\t,\t0000000010\r,5\n", want: "0000000010"},
		{name: "c1 control from cp1252 is kept", kind: KindRatings, input: ratingsHeader + "1,000000001\x81,5\n", want: "000000001\u0081"},
		{name: "nul in rating is not numeric", kind: KindRatings, input: ratingsHeader + "1,0000000010,5\x00\n", reason: ReasonRatingNotNumeric, column: colRating},
		{name: "bx nul in isbn", kind: KindRatings, input: bxRatingsHeader + "\"1\";\"00000\x0010\";\"5\"\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "bx escaped nul is dropped from the isbn", kind: KindRatings, input: bxRatingsHeader + "\"1\";\"00000\\000010\";\"5\"\n", want: "0000000010"},
		{name: "books nul in isbn", kind: KindBooks, input: booksHeader + "00000\x0010,T,A,2001,P,s,m,l\n", reason: ReasonControlCharacter, column: colISBN},
		{name: "books nul in title is kept", kind: KindBooks, input: booksHeader + "0000000010,T\x00,A,2001,P,s,m,l\n", want: "0000000010"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, ratings, books, err := readAll(t, Reader{}, tt.kind, "f.csv", []byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range ratings {
				got = append(got, r.ISBN)
			}
			for _, b := range books {
				got = append(got, b.ISBN)
			}
			if tt.want != "" {
				if len(got) != 1 || got[0] != tt.want || rep.DroppedTotal() != 0 {
					t.Fatalf("handed out %q, dropped %v; want %q", got, rep.Dropped, tt.want)
				}
				return
			}
			if len(got) != 0 || !maps.Equal(rep.Dropped, counts{tt.reason: 1}) {
				t.Fatalf("handed out %q, dropped %v; want one %s", got, rep.Dropped, tt.reason)
			}
			if ex := rep.Examples[0]; ex.Line != 2 || ex.Column != tt.column || ex.Reason != tt.reason {
				t.Errorf("issue %q, want line 2, column %s", ex.Error(), tt.column)
			}
		})
	}
}

// A header in another order or spelling reads the same rows.
func TestReorderedColumns(t *testing.T) {
	t.Parallel()
	books := "Image-URL-L; publisher ;isbn;year_of_publication;Book Author;BOOK-TITLE\n" +
		"l;Example Press;0000000010;2001;Ann Author;A Title\n" +
		"l;Example Press;0000000020;x;Bob Writer;Bad Year\n"
	rep, _, got, err := readAll(t, Reader{}, KindBooks, "Books.csv", []byte(books))
	if err != nil {
		t.Fatal(err)
	}
	want := []Book{{ISBN: "0000000010", Title: "A Title", Author: "Ann Author", Year: 2001, Publisher: "Example Press", ImageLarge: "l", Line: 2}}
	equalBooks(t, got, want)
	if len(rep.Examples) != 1 || rep.Examples[0].Error() != `Books.csv:3: column Year-Of-Publication: year_not_numeric: "x"` {
		t.Errorf("examples %v", rep.Examples)
	}
}

// hasControl's word-at-a-time test agrees with the plain one for every byte
// in every position of a word and of the tail, among neighbours on either
// side of the bounds.
func TestHasControl(t *testing.T) {
	t.Parallel()
	for _, fill := range []byte{'0', 0x20, 0x21, 0x7e, 0x80, 0x9f, 0xa0, 0xff} {
		for c := range 256 {
			want := c < 0x20 || c == 0x7f
			for n := 1; n <= 17; n++ {
				for at := range n {
					b := bytes.Repeat([]byte{fill}, n)
					b[at] = byte(c)
					if got := hasControl(b); got != want {
						t.Fatalf("hasControl(%q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
}
