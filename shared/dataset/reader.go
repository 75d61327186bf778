package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
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
	// lines are dropped as line_too_long. It bounds a record joined from
	// several lines (a quoted line break) too. 0 means DefaultMaxRecord.
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

// maxRecordLines bounds how many physical lines one record may span (a
// quoted field holding line breaks). A quote still open after that many
// lines, or after MaxRecord bytes, is broken quoting on the first line.
const maxRecordLines = 32

// scanner turns lines into records of fields, counting the drops that do
// not depend on the kind of file.
type scanner struct {
	ctx   context.Context
	file  string
	kind  Kind
	cols  []string // the column each field holds, in file order
	pos   []int    // column (index in Kind.Columns) → field, -1 when absent
	limit int
	lr    lineReader
	back  lineQueue // lines read ahead by a join that failed, read again first
	p     *fieldParser
	rep   *Report
	byWhy map[string]int // examples kept per reason
	line  int            // line the current record starts on
	rec   []byte         // a record being joined from several lines
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
		kind:  kind,
		limit: rd.maxRecord(),
		lr:    lineReader{br: bufio.NewReaderSize(r, readBufSize)},
		rep:   rep,
		byWhy: map[string]int{},
	}
	h, err := readHeader(&s.lr, file, kind)
	if err != nil {
		return nil, err
	}
	rep.Dialect = h.dialect
	s.cols, s.pos = h.names, h.pos
	// A few spare fields let a shifted row or a stray separator be told
	// apart from a runaway one without unbounded work.
	s.p = newFieldParser(h.dialect, len(s.cols)+8)
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
		if s.back.head > 0 {
			s.back.compact()
		}
		line, tooLong, no, err := s.nextLine()
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", s.file, s.lr.line+1, err)
		}
		s.line = no
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
		if bad >= 0 && s.p.open {
			// Keep the line: joining reads on, and the reader reuses
			// its buffer.
			s.rec = append(s.rec[:0], line...)
			line = s.rec
			d, e, ok, err := s.join()
			if err != nil {
				return err
			}
			if ok {
				data, ends, bad = d, e, -1
			}
		}
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

// join extends the record in s.rec, whose first line left a quoted field
// open, with the lines that follow (RFC 4180: a quoted field may hold line
// breaks, read as "\n"). It succeeds when the quote closes cleanly within
// maxRecordLines lines and the limit, giving a record with as many fields
// as a row may have. Otherwise the lines it read are put back to be read
// as records of their own, so that a stray quote costs one row and never
// swallows the rows after it.
func (s *scanner) join() (data []byte, ends []int, ok bool, err error) {
	mark := s.back.head
	for range maxRecordLines - 1 {
		line, tooLong, err := s.lineAhead()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, false, fmt.Errorf("read %s line %d: %w", s.file, s.lr.line+1, err)
		}
		if tooLong || len(s.rec)+1+len(line) > s.limit {
			break
		}
		s.rec = append(s.rec, '\n')
		s.rec = append(s.rec, line...)
		if bytes.IndexByte(line, '"') < 0 {
			continue // nothing here can close the quote
		}
		data, ends, bad, tooMany := s.p.split(s.rec)
		if bad < 0 && !tooMany && s.fits(len(ends)) {
			return data, ends, true, nil
		}
		if bad < 0 || !s.p.open {
			break
		}
	}
	s.back.head = mark
	return nil, nil, false, nil
}

// fits reports whether a record with n fields may be a row: as many as the
// header names, or one fewer in a Books.csv whose title and author a \";
// may have merged (see isShifted).
func (s *scanner) fits(n int) bool {
	return n == len(s.cols) || n == len(s.cols)-1 && s.kind == KindBooks && s.shiftable()
}

// nextLine returns the next physical line and its number: first the lines
// a failed join put back, then the file's.
func (s *scanner) nextLine() (line []byte, tooLong bool, no int, err error) {
	if s.back.head < len(s.back.lines) {
		l, _ := s.back.pop()
		return s.back.buf[l.lo:l.hi], l.tooLong, l.no, nil
	}
	line, tooLong, err = s.lr.next(s.limit)
	return line, tooLong, s.lr.line, err
}

// lineAhead is nextLine for a join: a line it takes from the file is also
// queued, so that a join that fails can put it back.
func (s *scanner) lineAhead() (line []byte, tooLong bool, err error) {
	if l, ok := s.back.pop(); ok {
		return s.back.buf[l.lo:l.hi], l.tooLong, nil
	}
	line, tooLong, err = s.lr.next(s.limit)
	if err != nil {
		return nil, false, err
	}
	s.back.push(line, tooLong, s.lr.line)
	s.back.head++
	return line, tooLong, nil
}

// lineQueue holds physical lines read ahead. Lines before head have been
// handed out; a failed join moves head back.
type lineQueue struct {
	buf   []byte
	lines []queuedLine
	head  int
}

type queuedLine struct {
	lo, hi  int // in buf
	no      int // line number in the file
	tooLong bool
}

func (q *lineQueue) push(line []byte, tooLong bool, no int) {
	lo := len(q.buf)
	q.buf = append(q.buf, line...)
	q.lines = append(q.lines, queuedLine{lo: lo, hi: len(q.buf), no: no, tooLong: tooLong})
}

func (q *lineQueue) pop() (queuedLine, bool) {
	if q.head == len(q.lines) {
		return queuedLine{}, false
	}
	q.head++
	return q.lines[q.head-1], true
}

// compact drops the lines handed out, between records (when head > 0). The queue then holds
// at most the lines of one join: memory stays bounded by the record limit.
func (q *lineQueue) compact() {
	if q.head == 0 {
		return
	}
	rest := q.lines[q.head:]
	if len(rest) == 0 {
		q.buf, q.lines, q.head = q.buf[:0], q.lines[:0], 0
		return
	}
	off := rest[0].lo
	n := copy(q.buf, q.buf[off:])
	q.buf = q.buf[:n]
	for i := range rest {
		rest[i].lo -= off
		rest[i].hi -= off
	}
	q.lines = append(q.lines[:0], rest...)
	q.head = 0
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
	s.rep.Examples = append(s.rep.Examples, Issue{File: s.file, Line: s.line, Column: column, Reason: reason, Detail: detail})
}

func (s *scanner) fieldCountDetail() string {
	return fmt.Sprintf("%d fields, want %d", len(s.ends), len(s.cols))
}

// hasControl reports whether b holds a C0 control character (0x00–0x1F)
// or DEL. Ids holding one (a NUL from a broken export, a tab or a line break
// inside the value) cannot be told from another id reliably, so their rows
// are dropped. It looks at 8 bytes at a time: it runs on every row.
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		// A high bit is set for a byte below 0x20, or equal to 0x7F (zero
		// after the XOR), and only for those (bytes >= 0x80 are masked by
		// ^x); borrows only spread past a byte that is one.
		if ((x-0x20*ones)|((x^0x7f*ones)-ones))&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
