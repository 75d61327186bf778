package dataset

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	t.Parallel()
	booksKaggle := "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S,Image-URL-M,Image-URL-L"
	booksBX := `"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"`
	tests := []struct {
		name     string
		input    string
		kind     Kind
		want     Dialect
		err      error
		message  string // substring of the error
		noHeader bool   // HeaderError.NoHeader
	}{
		{name: "kaggle ratings", input: "User-ID,ISBN,Book-Rating\n1,2,3\n", kind: KindRatings, want: Kaggle},
		{name: "kaggle books", input: booksKaggle + "\n", kind: KindBooks, want: Kaggle},
		{name: "bx ratings", input: `"User-ID";"ISBN";"Book-Rating"` + "\r\n", kind: KindRatings, want: BXDump},
		{name: "bx books", input: booksBX + "\n", kind: KindBooks, want: BXDump},
		{name: "bx unquoted", input: "User-ID;ISBN;Book-Rating\n", kind: KindRatings, want: BXDump},
		{name: "kaggle quoted", input: `"User-ID","ISBN","Book-Rating"`, kind: KindRatings, want: Kaggle},
		{name: "bom, case and spaces", input: "\xef\xbb\xbf user-id ,isbn, BOOK-RATING", kind: KindRatings, want: Kaggle},
		{name: "export header with bom", input: "\xef\xbb\xbfuserID,ISBN,bookRating\r\n", kind: KindRatings, want: Kaggle},
		{name: "snake case and spaces", input: `"user_id";"isbn";"Book Rating"`, kind: KindRatings, want: BXDump},
		{name: "any order", input: "Book-Rating,ISBN,User-ID\n", kind: KindRatings, want: Kaggle},
		{name: "books without images", input: "isbn,book_title,BookAuthor,Year Of Publication,publisher\n", kind: KindBooks, want: Kaggle},
		{name: "books with one image", input: "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-M\n", kind: KindBooks, want: Kaggle},
		{name: "books reordered", input: "Image-URL-L,Publisher,ISBN,Year-Of-Publication,Book-Author,Book-Title\n", kind: KindBooks, want: Kaggle},
		{name: "repeated column", input: "User-ID,userid,ISBN,Book-Rating\n", kind: KindRatings, err: ErrHeader,
			message: `found "User-ID","userid","ISBN","Book-Rating": unknown or repeated "userid"`},
		{name: "missing and unknown", input: "UserID,Rating\n", kind: KindRatings, err: ErrHeader,
			message: `: missing ISBN,Book-Rating; unknown or repeated "Rating"`},
		{name: "headerless ratings", input: "1,0000000010,5\n2,0000000010,6\n", kind: KindRatings, err: ErrHeader, noHeader: true,
			message: `Ratings.csv:1: ratings header: no header line (line 1 looks like data), expected columns User-ID,ISBN,Book-Rating, found "1","0000000010","5"`},
		{name: "headerless books", input: `"000000001X";"A Title";"Ann Author";"1999";"P";"s";"m";"l"`, kind: KindBooks, err: ErrHeader, noHeader: true,
			message: `no header line (line 1 looks like data), expected columns ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S,Image-URL-M,Image-URL-L (Image-URL-S,Image-URL-M,Image-URL-L optional), found "000000001X","A Title"`},
		{name: "names without numbers are a wrong header", input: "user,book,score\n", kind: KindRatings, err: ErrHeader,
			message: `found "user","book","score": missing User-ID,ISBN,Book-Rating`},
		{name: "empty", input: "", kind: KindRatings, err: ErrEmpty, message: "Ratings.csv: empty file"},
		{name: "wrong names", input: "UserID,ISBN,Rating\n", kind: KindRatings, err: ErrHeader,
			message: `Ratings.csv:1: ratings header: expected columns User-ID,ISBN,Book-Rating, found "UserID","ISBN","Rating"`},
		{name: "books for ratings", input: booksKaggle + "\n", kind: KindRatings, err: ErrHeader, message: `found "ISBN","Book-Title"`},
		{name: "bx wrong names reported split on ;", input: `"User";"ISBN";"Rating"`, kind: KindRatings, err: ErrHeader,
			message: `found "User","ISBN","Rating"`},
		{name: "extra column", input: "User-ID,ISBN,Book-Rating,\n", kind: KindRatings, err: ErrHeader},
		{name: "blank first line", input: "\nUser-ID,ISBN,Book-Rating\n", kind: KindRatings, err: ErrHeader, message: "found nothing"},
		{name: "binary", input: "\x00\xff\xfe,\"", kind: KindRatings, err: ErrHeader},
		{name: "too long", input: strings.Repeat("x", maxHeader+10), kind: KindRatings, err: ErrHeader, message: "line longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := CheckHeader(strings.NewReader(tt.input), "Ratings.csv", tt.kind)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), tt.message) {
					t.Errorf("err = %q, want it to contain %q", err, tt.message)
				}
				var he *HeaderError
				if errors.As(err, &he) && he.NoHeader != tt.noHeader {
					t.Errorf("NoHeader = %v, want %v", he.NoHeader, tt.noHeader)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CheckHeader = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// CheckHeader must stop at the first line: the validate stage hands it the
// start of objects that may be gigabytes long.
func TestCheckHeaderReadsOnlyTheFirstLine(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader("User-ID,ISBN,Book-Rating\n"), errReader{})
	if d, err := CheckHeader(r, "Ratings.csv", KindRatings); err != nil || d != Kaggle {
		t.Fatalf("CheckHeader = %q, %v; want kaggle", d, err)
	}
	var he *HeaderError
	_, err := CheckHeader(strings.NewReader("a,b\n"), "Books.csv", KindBooks)
	if !errors.As(err, &he) || he.File != "Books.csv" || len(he.Found) != 2 || len(he.Expected) != 8 {
		t.Fatalf("err = %#v, want a *HeaderError naming the file and both column lists", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read past the header") }
