package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// Rating is one row of Ratings.csv.
type Rating struct {
	User  string // User-ID as written (trimmed); the real ids are numeric
	ISBN  string // as written (trimmed); may hold letters
	Value int    // 0..10; 0 is implicit feedback and still a valid row
	Line  int    // line the row starts on, the header being line 1
}

// MaxRating is the largest valid Book-Rating.
const MaxRating = 10

// ReadRatings streams the rows of a Ratings.csv (either dialect) to fn and
// reports what it saw. Bad rows are dropped and counted; a wrong header, an
// empty file, a read error, cancellation (ctx.Err()) or an error from fn
// stop the read and are returned with the report so far.
//
// User and ISBN of one Rating share one allocation.
func (rd Reader) ReadRatings(ctx context.Context, r io.Reader, file string, fn func(Rating) error) (Report, error) {
	rep := newReport(file)
	s, err := rd.open(ctx, r, file, KindRatings, &rep)
	if err != nil {
		return rep, err
	}
	for {
		if err := s.next(); err == io.EOF {
			return rep, nil
		} else if err != nil {
			return rep, err
		}
		if len(s.ends) != len(s.cols) {
			s.drop(ReasonWrongFieldCount, "", s.fieldCountDetail())
			continue
		}
		u, i := s.span(s.pos[ratingUser]), s.span(s.pos[ratingISBN])
		user := bytes.TrimSpace(s.data[u.lo:u.hi])
		isbn := bytes.TrimSpace(s.data[i.lo:i.hi])
		raw := s.field(s.pos[ratingValue])
		switch {
		case len(user) == 0:
			s.drop(ReasonEmptyUser, colUser, quote(s.data[u.lo:u.hi]))
			continue
		case len(isbn) == 0:
			s.drop(ReasonEmptyISBN, colISBN, quote(s.data[i.lo:i.hi]))
			continue
		case hasControl(user):
			s.drop(ReasonControlCharacter, colUser, quote(user))
			continue
		case hasControl(isbn):
			s.drop(ReasonControlCharacter, colISBN, quote(isbn))
			continue
		}
		v, reason := parseRating(bytes.TrimSpace(raw))
		if reason != "" {
			s.drop(reason, colRating, quote(raw))
			continue
		}
		// One string for the user and ISBN fields, from the first of them
		// to the last (with the usual header, data[:ends[1]]); both are
		// slices of it.
		lo, hi := min(u.lo, i.lo), max(u.hi, i.hi)
		str := string(s.data[lo:hi])
		rt := Rating{
			User:  strings.TrimSpace(str[u.lo-lo : u.hi-lo]),
			ISBN:  strings.TrimSpace(str[i.lo-lo : i.hi-lo]),
			Value: v,
			Line:  s.line,
		}
		rep.Accepted++
		if err := fn(rt); err != nil {
			return rep, fmt.Errorf("%s line %d: %w", file, rt.Line, err)
		}
	}
}

// parseRating reads an integer rating. A number outside 0..MaxRating
// (negative ones included) is out of range; anything else that is not a
// plain integer is not numeric.
func parseRating(b []byte) (int, string) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, ReasonRatingNotNumeric
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ReasonRatingNotNumeric
		}
		if v <= MaxRating {
			v = v*10 + int(c-'0')
		}
	}
	if neg && v != 0 || v > MaxRating {
		return 0, ReasonRatingOutOfRange
	}
	return v, ""
}
