package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Dialect is the CSV flavour of a Book-Crossing file.
type Dialect string

const (
	// Kaggle is the comma-separated UTF-8 flavour published on Kaggle.
	Kaggle Dialect = "kaggle"
	// BXDump is the original BX-CSV-Dump: ';'-separated, every field quoted,
	// Latin-1, \" escapes.
	BXDump Dialect = "bx-dump"
)

// Kind says which of the two files a stream holds.
type Kind uint8

const (
	KindBooks   Kind = iota + 1 // Books.csv / BX-Books.csv
	KindRatings                 // Ratings.csv / BX-Book-Ratings.csv
)

func (k Kind) String() string {
	switch k {
	case KindBooks:
		return "books"
	case KindRatings:
		return "ratings"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Columns returns the header the file must have, in order.
func (k Kind) Columns() []string {
	switch k {
	case KindBooks:
		return []string{colISBN, colTitle, colAuthor, colYear, colPublisher, colImageS, colImageM, colImageL}
	case KindRatings:
		return []string{colUser, colISBN, colRating}
	}
	return nil
}

const (
	colUser      = "User-ID"
	colISBN      = "ISBN"
	colRating    = "Book-Rating"
	colTitle     = "Book-Title"
	colAuthor    = "Book-Author"
	colYear      = "Year-Of-Publication"
	colPublisher = "Publisher"
	colImageS    = "Image-URL-S"
	colImageM    = "Image-URL-M"
	colImageL    = "Image-URL-L"
)

var (
	// ErrEmpty is returned (wrapped) for a file with no header line.
	ErrEmpty = errors.New("empty file")
	// ErrHeader is returned (wrapped, see HeaderError) for a header line that
	// is not the expected one in either dialect.
	ErrHeader = errors.New("wrong header")
)

// HeaderError describes a header line that matches neither dialect.
type HeaderError struct {
	File     string
	Kind     Kind
	Expected []string // the columns of Kind
	Found    []string // the header's fields as read (or the raw line when it could not be split)
	Reason   string   // set when the line could not be read as fields at all
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:1: %s header: ", e.File, e.Kind)
	if e.Reason != "" {
		b.WriteString(e.Reason)
		b.WriteString(", ")
	}
	b.WriteString("expected columns ")
	b.WriteString(strings.Join(e.Expected, ","))
	b.WriteString(", found ")
	for i, f := range e.Found {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(truncate(f, 64)))
	}
	if len(e.Found) == 0 {
		b.WriteString("nothing")
	}
	return b.String()
}

// Unwrap lets callers test errors.Is(err, ErrHeader).
func (e *HeaderError) Unwrap() error { return ErrHeader }

// maxHeader bounds the header line; the real ones are about 100 bytes.
const maxHeader = 64 << 10

// CheckHeader reads the first line of r (at most 64 KiB of it) and reports
// the file's dialect, or an error wrapping ErrEmpty or ErrHeader (a
// *HeaderError) that names the file. It is what the validate stage uses
// without reading whole files.
func CheckHeader(r io.Reader, file string, kind Kind) (Dialect, error) {
	lr := lineReader{br: bufio.NewReaderSize(io.LimitReader(r, maxHeader+int64(len(bom))+1), 4096)}
	return readHeader(&lr, file, kind)
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// readHeader reads line 1 from lr and detects the dialect.
func readHeader(lr *lineReader, file string, kind Kind) (Dialect, error) {
	line, tooLong, err := lr.next(maxHeader + len(bom))
	switch {
	case err == io.EOF:
		return "", fmt.Errorf("%s: %w (no header line)", file, ErrEmpty)
	case err != nil:
		return "", fmt.Errorf("read %s header: %w", file, err)
	case tooLong:
		return "", &HeaderError{File: file, Kind: kind, Expected: kind.Columns(),
			Reason: fmt.Sprintf("line longer than %d bytes", maxHeader)}
	}
	line = bytes.TrimPrefix(line, bom)
	want := kind.Columns()
	var found []string
	for _, d := range []Dialect{Kaggle, BXDump} {
		p := newFieldParser(d, len(want)+16)
		data, ends, bad, tooMany := p.split(line)
		if bad >= 0 || tooMany {
			continue
		}
		if d == BXDump {
			data, ends, _ = p.transcode(data, ends)
		} else {
			data, ends, _ = p.fixUTF8(data, ends)
		}
		got := fieldStrings(data, ends)
		if headerMatches(got, want) {
			return d, nil
		}
		// Report the split that used the separator the line actually has.
		if found == nil || (d == BXDump && bytes.Count(line, []byte{';'}) > bytes.Count(line, []byte{','})) {
			found = got
		}
	}
	if found == nil {
		found = []string{strings.ToValidUTF8(string(line), "\uFFFD")}
	}
	if len(found) == 1 && found[0] == "" {
		found = nil
	}
	return "", &HeaderError{File: file, Kind: kind, Expected: want, Found: found}
}

func headerMatches(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.EqualFold(strings.TrimSpace(got[i]), want[i]) {
			return false
		}
	}
	return true
}

func fieldStrings(data []byte, ends []int) []string {
	out := make([]string, len(ends))
	start := 0
	for i, e := range ends {
		out[i] = string(data[start:e])
		start = e
	}
	return out
}
