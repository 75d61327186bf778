package dataset

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"
)

// DefaultMaxRecord is the default bound on one line, in bytes.
const DefaultMaxRecord = 1 << 20

// Reader holds the limits of a read. The zero value is ready to use.
type Reader struct {
	// MaxRecord bounds one line in bytes (without its line ending); longer
	// lines are dropped as line_too_long. 0 means DefaultMaxRecord.
	MaxRecord int
	// MaxYear is the last plausible year of publication; later years are
	// read as 0 (unknown). 0 means the current year + 1.
	MaxYear int
}

// ReadRatings reads a Ratings.csv stream with the zero Reader.
func ReadRatings(ctx context.Context, r io.Reader, file string, fn func(Rating) error) (Report, error) {
	return Reader{}.ReadRatings(ctx, r, file, fn)
}

// ReadBooks reads a Books.csv stream with the zero Reader.
func ReadBooks(ctx context.Context, r io.Reader, file string, fn func(Book) error) (Report, error) {
	return Reader{}.ReadBooks(ctx, r, file, fn)
}

func (rd Reader) maxRecord() int {
	if rd.MaxRecord > 0 {
		return rd.MaxRecord
	}
	return DefaultMaxRecord
}

func (rd Reader) maxYear() int {
	if rd.MaxYear > 0 {
		return rd.MaxYear
	}
	return time.Now().Year() + 1
}

// ctxEvery is how many rows pass between checks of the context.
const ctxEvery = 4096

// scanner turns lines into records of fields, counting the drops that do
// not depend on the kind of file.
type scanner struct {
	ctx   context.Context
	file  string
	cols  []string
	limit int
	lr    lineReader
	p     *fieldParser
	rep   *Report
	byWhy map[string]int // examples kept per reason
	data  []byte         // the current record's fields, back to back
	ends  []int
}

// open reads the header and prepares a scanner positioned on line 2.
func (rd Reader) open(ctx context.Context, r io.Reader, file string, kind Kind, rep *Report) (*scanner, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &scanner{
		ctx:   ctx,
		file:  file,
		cols:  kind.Columns(),
		limit: rd.maxRecord(),
		lr:    lineReader{br: bufio.NewReaderSize(r, readBufSize)},
		rep:   rep,
		byWhy: map[string]int{},
	}
	d, err := readHeader(&s.lr, file, kind)
	if err != nil {
		return nil, err
	}
	rep.Dialect = d
	// A few spare fields let a shifted row or a stray separator be told
	// apart from a runaway one without unbounded work.
	s.p = newFieldParser(d, len(s.cols)+8)
	return s, nil
}

// next moves to the next record with well-formed quoting. It skips blank
// lines and counts (and drops) too-long lines, broken quoting and records
// with far too many fields itself. It returns io.EOF at the end of input,
// ctx.Err() when cancelled, and read errors wrapped with file and line.
func (s *scanner) next() error {
	for {
		if s.rep.Rows%ctxEvery == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
		line, tooLong, err := s.lr.next(s.limit)
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", s.file, s.lr.line+1, err)
		}
		if tooLong {
			s.rep.Rows++
			s.drop(ReasonLineTooLong, "", "longer than "+strconv.Itoa(s.limit)+" bytes")
			continue
		}
		if isBlank(line) {
			continue
		}
		s.rep.Rows++
		data, ends, bad, tooMany := s.p.split(line)
		switch {
		case bad >= 0:
			s.drop(ReasonInvalidQuoting, s.column(bad), quote(line))
			continue
		case tooMany:
			s.drop(ReasonWrongFieldCount, "", fmt.Sprintf("more than %d fields, want %d", s.p.maxFields, len(s.cols)))
			continue
		}
		if s.p.latin1 {
			data, ends, _ = s.p.transcode(data, ends)
		} else if k, raw := firstInvalid(data, ends); k >= 0 {
			detail := quote(raw)
			data, ends, _ = s.p.fixUTF8(data, ends)
			s.repair(RepairLatin1, s.column(k), detail)
		}
		s.data, s.ends = data, ends
		return nil
	}
}

// field returns field i of the current record.
func (s *scanner) field(i int) []byte {
	sp := s.span(i)
	return s.data[sp.lo:sp.hi]
}

func (s *scanner) span(i int) span {
	if i == 0 {
		return span{0, s.ends[0]}
	}
	return span{s.ends[i-1], s.ends[i]}
}

func (s *scanner) column(i int) string {
	if i >= 0 && i < len(s.cols) {
		return s.cols[i]
	}
	return ""
}

func (s *scanner) drop(reason, column, detail string) {
	s.rep.Dropped[reason]++
	s.example(reason, column, detail)
}

func (s *scanner) repair(quirk, column, detail string) {
	s.rep.Repaired[quirk]++
	s.example(quirk, column, detail)
}

func (s *scanner) example(reason, column, detail string) {
	if len(s.rep.Examples) >= MaxExamples || s.byWhy[reason] >= maxExamplesByReason {
		return
	}
	s.byWhy[reason]++
	s.rep.Examples = append(s.rep.Examples, Issue{File: s.file, Line: s.lr.line, Column: column, Reason: reason, Detail: detail})
}

func (s *scanner) fieldCountDetail() string {
	return fmt.Sprintf("%d fields, want %d", len(s.ends), len(s.cols))
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
