package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
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

// Columns returns the columns a file of kind k holds, in the order the real
// exports write them (and Generate writes them). A header may name them in
// any order, spelled with any case and punctuation (User-ID, userID, user_id
// and "User ID" are one name); some are optional (see Optional).
func (k Kind) Columns() []string {
	switch k {
	case KindBooks:
		return []string{colISBN, colTitle, colAuthor, colYear, colPublisher, colImageS, colImageM, colImageL}
	case KindRatings:
		return []string{colUser, colISBN, colRating}
	}
	return nil
}

// Optional returns the columns of k a header may leave out; a Book read
// without them has them empty.
func (k Kind) Optional() []string {
	if k == KindBooks {
		return []string{colImageS, colImageM, colImageL}
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

// The place of each column in Kind.Columns, which is how the readers name
// a column whatever its place in the file.
const (
	ratingUser = iota
	ratingISBN
	ratingValue
)

const (
	bookISBN = iota
	bookTitle
	bookAuthor
	bookYear
	bookPublisher
	bookImageS
	bookImageM
	bookImageL
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
	Missing  []string // required columns of Kind that no field names
	Extra    []string // fields that name no column of Kind, or one named before
	// NoHeader is set when line 1 looks like a data row (no field names a
	// column, and one is a plain number): the file has no header.
	NoHeader bool
	Reason   string // set when the line could not be read as fields at all
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:1: %s header: ", e.File, e.Kind)
	if e.Reason != "" {
		b.WriteString(e.Reason)
		b.WriteString(", ")
	}
	if e.NoHeader {
		b.WriteString("no header line (line 1 looks like data), ")
	}
	b.WriteString("expected columns ")
	b.WriteString(strings.Join(e.Expected, ","))
	if opt := e.Kind.Optional(); len(opt) > 0 {
		fmt.Fprintf(&b, " (%s optional)", strings.Join(opt, ","))
	}
	b.WriteString(", found ")
	writeQuoted(&b, e.Found)
	if len(e.Found) == 0 {
		b.WriteString("nothing")
	}
	if e.NoHeader {
		return b.String()
	}
	sep := ": "
	if len(e.Missing) > 0 {
		b.WriteString(sep + "missing " + strings.Join(e.Missing, ","))
		sep = "; "
	}
	if len(e.Extra) > 0 {
		b.WriteString(sep + "unknown or repeated ")
		writeQuoted(&b, e.Extra)
	}
	return b.String()
}

func writeQuoted(b *strings.Builder, fields []string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(truncate(f, 64)))
	}
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
	h, err := readHeader(&lr, file, kind)
	return h.dialect, err
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// header is what line 1 says about the rows that follow.
type header struct {
	dialect Dialect
	names   []string // the column each field holds, as Kind.Columns spells it
	pos     []int    // column (index in Kind.Columns) → field, -1 when absent
}

// readHeader reads line 1 from lr, detects the dialect and matches the
// fields to the columns of kind.
func readHeader(lr *lineReader, file string, kind Kind) (header, error) {
	line, tooLong, err := lr.next(maxHeader + len(bom))
	switch {
	case err == io.EOF:
		return header{}, fmt.Errorf("%s: %w (no header line)", file, ErrEmpty)
	case err != nil:
		return header{}, fmt.Errorf("read %s header: %w", file, err)
	case tooLong:
		return header{}, &HeaderError{File: file, Kind: kind, Expected: kind.Columns(),
			Reason: fmt.Sprintf("line longer than %d bytes", maxHeader)}
	}
	line = bytes.TrimPrefix(line, bom)
	want := kind.Columns()
	he := &HeaderError{File: file, Kind: kind, Expected: want}
	split := false
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
		h, missing, extra := matchHeader(got, kind)
		if len(missing) == 0 && len(extra) == 0 {
			h.dialect = d
			return h, nil
		}
		// Report the split that used the separator the line actually has.
		if !split || (d == BXDump && bytes.Count(line, []byte{';'}) > bytes.Count(line, []byte{','})) {
			he.Found, he.Missing, he.Extra = got, missing, extra
			he.NoHeader = len(extra) == len(got) && slices.ContainsFunc(got, isNumber)
			split = true
		}
	}
	if !split {
		he.Found = []string{strings.ToValidUTF8(string(line), "\uFFFD")}
	}
	if len(he.Found) == 1 && he.Found[0] == "" {
		he.Found, he.Extra = nil, nil
	}
	return header{}, he
}

// matchHeader places the fields of a header line among the columns of
// kind. It returns the required columns no field names and the fields that
// name no column or repeat one.
func matchHeader(got []string, kind Kind) (h header, missing, extra []string) {
	cols := kind.Columns()
	h.names = make([]string, len(got))
	h.pos = make([]int, len(cols))
	for c := range h.pos {
		h.pos[c] = -1
	}
	for i, g := range got {
		name := normName(g)
		c := slices.IndexFunc(cols, func(col string) bool { return normName(col) == name })
		if c < 0 || h.pos[c] >= 0 {
			extra = append(extra, g)
			continue
		}
		h.pos[c] = i
		h.names[i] = cols[c]
	}
	opt := kind.Optional()
	for c, p := range h.pos {
		if p < 0 && !slices.Contains(opt, cols[c]) {
			missing = append(missing, cols[c])
		}
	}
	return h, missing, extra
}

// normName is a column name with case and everything but letters and
// digits dropped: "User-ID", "userID", "user_id" and " User ID " are all
// "userid".
func normName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r):
			return unicode.ToLower(r)
		case unicode.IsDigit(r):
			return r
		}
		return -1
	}, s)
}

// isNumber reports whether s is a plain number once trimmed, as user ids,
// ratings and years are and header names are not.
func isNumber(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "0123456789") == ""
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
