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
	Line        int // line the row starts on, the header being line 1
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
	var f [8]span // by column (index in Kind.Columns); an absent one is empty
	shifted := s.isShifted()
	switch {
	case shifted:
		// ISBN, Title";Author, Year, Publisher, S, M, L[, ""]: the dump's
		// \"; merged title and author and pulled the rest one to the left.
		t, a := s.pos[bookTitle], s.pos[bookAuthor]
		for c, p := range s.pos {
			switch {
			case p >= 0 && p < t:
				f[c] = s.span(p)
			case p > a:
				f[c] = s.span(p - 1)
			}
		}
		f[bookTitle], f[bookAuthor] = s.splitMerged(s.span(t))
	case len(s.ends) == len(s.cols):
		for c, p := range s.pos {
			if p >= 0 {
				f[c] = s.span(p)
			}
		}
	default:
		s.drop(ReasonWrongFieldCount, "", s.fieldCountDetail())
		return Book{}, false
	}
	raw := func(c int) []byte { return s.data[f[c].lo:f[c].hi] }
	isbn := bytes.TrimSpace(raw(bookISBN))
	if len(isbn) == 0 {
		s.drop(ReasonEmptyISBN, colISBN, quote(raw(bookISBN)))
		return Book{}, false
	}
	if hasControl(isbn) {
		s.drop(ReasonControlCharacter, colISBN, quote(isbn))
		return Book{}, false
	}
	year, why := parseYear(bytes.TrimSpace(raw(bookYear)), maxYear)
	if why == ReasonYearNotNumeric {
		s.drop(why, colYear, quote(raw(bookYear)))
		return Book{}, false
	}
	if shifted {
		s.repair(RepairShiftedRow, colYear, quote(s.field(s.pos[bookYear])))
	}
	if why != "" {
		s.repair(why, colYear, quote(raw(bookYear)))
	}
	row := string(s.data)
	str := func(c int) string { return strings.TrimSpace(row[f[c].lo:f[c].hi]) }
	b := Book{
		ISBN:        str(bookISBN),
		Year:        year,
		ImageSmall:  str(bookImageS),
		ImageMedium: str(bookImageM),
		ImageLarge:  str(bookImageL),
		Line:        s.line,
	}
	var et, ea, ep bool
	b.Title, et = cleanText(oneLine(str(bookTitle)))
	b.Author, ea = cleanText(oneLine(str(bookAuthor)))
	b.Publisher, ep = cleanText(oneLine(str(bookPublisher)))
	switch { // counted once per row
	case et:
		s.repair(RepairHTMLEntity, colTitle, quote(raw(bookTitle)))
	case ea:
		s.repair(RepairHTMLEntity, colAuthor, quote(raw(bookAuthor)))
	case ep:
		s.repair(RepairHTMLEntity, colPublisher, quote(raw(bookPublisher)))
	}
	return b, true
}

// oneLine folds a text that a quoted field carried over line breaks onto
// one line, each run of white space becoming one space (as the dump's \n
// escapes are read as a space): titles, authors and publishers are one
// line. A text without a line break is returned as it is.
func oneLine(s string) string {
	if strings.IndexByte(s, '\n') < 0 {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// shiftable reports whether the header puts title, author and year next to
// each other in that order, as both exports do: only then can a \"; that
// merged title and author be recognised (and undone).
func (s *scanner) shiftable() bool {
	t := s.pos[bookTitle]
	return s.pos[bookAuthor] == t+1 && s.pos[bookYear] == t+2
}

// isShifted recognises the rows the dump's \"; broke: the year column holds
// a name while the author column holds a year, and one field is missing (bx
// dump) or the last one is empty (kaggle).
func (s *scanner) isShifted() bool {
	n, want := len(s.ends), len(s.cols)
	if !s.shiftable() || n != want-1 && !(n == want && len(bytes.TrimSpace(s.field(n-1))) == 0) {
		return false
	}
	a, y := s.pos[bookAuthor], s.pos[bookYear]
	if y >= n || !looksLikeYear(bytes.TrimSpace(s.field(a))) {
		return false
	}
	_, why := parseYear(bytes.TrimSpace(s.field(y)), 9999)
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
