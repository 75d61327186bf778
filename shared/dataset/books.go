package dataset

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"strings"
	"unicode/utf8"
)

// Book is one row of Books.csv.
type Book struct {
	ISBN        string // as written (trimmed); may hold letters
	Title       string
	Author      string
	Year        int // year of publication; 0 when unknown, zero or implausible
	Publisher   string
	ImageSmall  string
	ImageMedium string
	ImageLarge  string
	Line        int // line in the file, the header being line 1
}

// ReadBooks streams the rows of a Books.csv (either dialect) to fn and
// reports what it saw; see ReadRatings for the error contract and the
// package comment for the quirks it repairs.
func (rd Reader) ReadBooks(ctx context.Context, r io.Reader, file string, fn func(Book) error) (Report, error) {
	rep := newReport(file)
	s, err := rd.open(ctx, r, file, KindBooks, &rep)
	if err != nil {
		return rep, err
	}
	maxYear := rd.maxYear()
	for {
		if err := s.next(); err == io.EOF {
			return rep, nil
		} else if err != nil {
			return rep, err
		}
		b, ok := s.book(maxYear)
		if !ok {
			continue
		}
		rep.Accepted++
		if err := fn(b); err != nil {
			return rep, fmt.Errorf("%s line %d: %w", file, b.Line, err)
		}
	}
}

// span is a field's place in scanner.data.
type span struct{ lo, hi int }

// book turns the current record into a Book, counting its repairs, or
// counts why it is dropped. The strings of one Book share one allocation.
func (s *scanner) book(maxYear int) (Book, bool) {
	var f [8]span
	n := len(s.ends)
	shifted := isShifted(s, n)
	switch {
	case shifted:
		// ISBN, Title";Author, Year, Publisher, S, M, L[, ""]: the dump's
		// \"; merged title and author and pulled the rest one to the left.
		f[0] = s.span(0)
		f[1], f[2] = s.splitMerged(s.span(1))
		for i := 3; i < 8; i++ {
			f[i] = s.span(i - 1)
		}
	case n == 8:
		for i := range f {
			f[i] = s.span(i)
		}
	default:
		s.drop(ReasonWrongFieldCount, "", s.fieldCountDetail())
		return Book{}, false
	}
	raw := func(sp span) []byte { return s.data[sp.lo:sp.hi] }
	if len(bytes.TrimSpace(raw(f[0]))) == 0 {
		s.drop(ReasonEmptyISBN, colISBN, quote(raw(f[0])))
		return Book{}, false
	}
	year, why := parseYear(bytes.TrimSpace(raw(f[3])), maxYear)
	if why == ReasonYearNotNumeric {
		s.drop(why, colYear, quote(raw(f[3])))
		return Book{}, false
	}
	if shifted {
		s.repair(RepairShiftedRow, colYear, quote(s.field(3)))
	}
	if why != "" {
		s.repair(why, colYear, quote(raw(f[3])))
	}
	row := string(s.data)
	str := func(sp span) string { return strings.TrimSpace(row[sp.lo:sp.hi]) }
	b := Book{
		ISBN:        str(f[0]),
		Year:        year,
		ImageSmall:  str(f[5]),
		ImageMedium: str(f[6]),
		ImageLarge:  str(f[7]),
		Line:        s.lr.line,
	}
	var et, ea, ep bool
	b.Title, et = cleanText(str(f[1]))
	b.Author, ea = cleanText(str(f[2]))
	b.Publisher, ep = cleanText(str(f[4]))
	switch { // counted once per row
	case et:
		s.repair(RepairHTMLEntity, colTitle, quote(raw(f[1])))
	case ea:
		s.repair(RepairHTMLEntity, colAuthor, quote(raw(f[2])))
	case ep:
		s.repair(RepairHTMLEntity, colPublisher, quote(raw(f[4])))
	}
	return b, true
}

// isShifted recognises the rows the dump's \"; broke: the year column holds
// a name while the author column holds a year, and one field is missing (bx
// dump: 7 fields) or the last one is empty (kaggle: 8).
func isShifted(s *scanner, n int) bool {
	if n != 7 && !(n == 8 && len(bytes.TrimSpace(s.field(7))) == 0) {
		return false
	}
	if !looksLikeYear(bytes.TrimSpace(s.field(2))) {
		return false
	}
	y := bytes.TrimSpace(s.field(3))
	_, why := parseYear(y, 9999)
	return why == ReasonYearNotNumeric
}

func looksLikeYear(b []byte) bool {
	if len(b) == 0 || len(b) > 4 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// splitMerged splits a merged `Title\";Author"` (kaggle keeps the
// backslash and the stray quote) or `Title";Author` (bx-dump) at the first
// `";`. Without one, the whole is the title and the author is empty.
func (s *scanner) splitMerged(sp span) (title, author span) {
	b := s.data[sp.lo:sp.hi]
	i := bytes.Index(b, []byte(`";`))
	if i < 0 {
		return sp, span{sp.hi, sp.hi}
	}
	title = span{sp.lo, sp.lo + i}
	if i > 0 && b[i-1] == '\\' {
		title.hi--
	}
	a := bytes.TrimRight(b[i+2:], " \t")
	a = bytes.TrimSuffix(a, []byte{'"'})
	return title, span{sp.lo + i + 2, sp.lo + i + 2 + len(a)}
}

// parseYear reads a year of publication. It returns the year and, when the
// year is kept as 0 (unknown), the repair that says why; a value that is not
// a plain number is ReasonYearNotNumeric.
func parseYear(b []byte, maxYear int) (int, string) {
	if len(b) == 0 {
		return 0, RepairYearMissing
	}
	y := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ReasonYearNotNumeric
		}
		if y <= maxYear {
			y = y*10 + int(c-'0')
		}
	}
	switch {
	case y == 0:
		return 0, RepairYearZero
	case y > maxYear:
		return 0, RepairYearOutOfRange
	}
	return y, ""
}

// cleanText decodes HTML entities in a trimmed text field, reporting
// whether there were any.
func cleanText(s string) (string, bool) {
	if strings.IndexByte(s, '&') < 0 {
		return s, false
	}
	u := html.UnescapeString(s)
	if u == s {
		return s, false
	}
	if !utf8.ValidString(u) {
		u = strings.ToValidUTF8(u, "\uFFFD")
	}
	return strings.TrimSpace(u), true
}
