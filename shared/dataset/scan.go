package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"unicode/utf8"
)

// readBufSize is the bufio buffer; lines up to this size are parsed in
// place without copying.
const readBufSize = 64 << 10

// lineReader hands out physical lines with a bound on their length.
type lineReader struct {
	br   *bufio.Reader
	long []byte // gathers a line longer than the bufio buffer (up to the limit)
	line int    // number of the line last returned, from 1
}

// next returns the next physical line without its "\n" or "\r\n". The slice
// is valid until the next call. A line longer than limit bytes is skipped to
// its end without being held in memory; next then returns tooLong and no
// line. At the end of input it returns io.EOF.
func (lr *lineReader) next(limit int) (line []byte, tooLong bool, err error) {
	b, err := lr.br.ReadSlice('\n')
	switch {
	case err == nil:
		lr.line++
		return finishLine(b, limit)
	case err == io.EOF:
		if len(b) == 0 {
			return nil, false, io.EOF
		}
		lr.line++
		return finishLine(b, limit)
	case err != bufio.ErrBufferFull:
		return nil, false, err
	}
	// Longer than the buffer: gather it while it fits the limit, then only
	// look for its end. The +2 leaves room for "\r\n".
	lr.line++
	lr.long = lr.long[:0]
	tooLong = len(b) > limit+2
	if !tooLong {
		if cap(lr.long) < limit+2 {
			// Once per reader: room for the longest line kept, so that
			// gathering never allocates more than that.
			lr.long = make([]byte, 0, limit+2)
		}
		lr.long = append(lr.long, b...)
	}
	for {
		b, err = lr.br.ReadSlice('\n')
		if !tooLong {
			if len(lr.long)+len(b) > limit+2 {
				tooLong = true
				lr.long = lr.long[:0]
			} else {
				lr.long = append(lr.long, b...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		break
	}
	if tooLong {
		return nil, true, nil
	}
	return finishLine(lr.long, limit)
}

func finishLine(b []byte, limit int) ([]byte, bool, error) {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > limit {
		return nil, true, nil
	}
	return b, false, nil
}

// fieldParser splits one record into fields. Fields are laid out back to
// back in data, field i being data[ends[i-1]:ends[i]]. Its buffers are reused
// from record to record, so a record costs no allocation once they have
// grown.
type fieldParser struct {
	sep       byte
	backslash bool // bx-dump: \x inside quotes escapes x
	latin1    bool // bx-dump: bytes are Windows-1252
	maxFields int  // a record with more fields is reported tooMany
	open      bool // the last split's bad field is a quote left open at the end
	buf       []byte
	buf2      []byte
	ends      []int
}

func newFieldParser(d Dialect, maxFields int) *fieldParser {
	p := &fieldParser{sep: ',', maxFields: maxFields}
	if d == BXDump {
		p.sep, p.backslash, p.latin1 = ';', true, true
	}
	return p
}

// split unquotes line into fields. bad is the index of the first field with
// broken quoting (-1 if none): a quote left open at the end of the line, or
// a closing quote followed by something other than the separator. A quote in
// the middle of an unquoted field is kept as a literal. tooMany reports more
// than maxFields fields (parsing stops there). p.open tells the first kind
// of broken quoting from the second: the record may go on on the next line.
func (p *fieldParser) split(line []byte) (data []byte, ends []int, bad int, tooMany bool) {
	p.ends = p.ends[:0]
	p.open = false
	if bytes.IndexByte(line, '"') < 0 {
		// Fast path: nothing to unquote, only separators to drop.
		buf := p.buf[:0]
		for {
			if len(p.ends) == p.maxFields {
				p.buf = buf
				return buf, p.ends, -1, true
			}
			i := bytes.IndexByte(line, p.sep)
			if i < 0 {
				buf = append(buf, line...)
				p.ends = append(p.ends, len(buf))
				p.buf = buf
				return buf, p.ends, -1, false
			}
			buf = append(buf, line[:i]...)
			p.ends = append(p.ends, len(buf))
			line = line[i+1:]
		}
	}
	// Each field's separator is dropped, so data never outgrows line.
	buf := p.buf[:0]
	i := 0
	for {
		if len(p.ends) == p.maxFields {
			p.buf = buf
			return buf, p.ends, -1, true
		}
		if i < len(line) && line[i] == '"' {
			var ok bool
			buf, i, ok = p.quoted(buf, line, i+1)
			if !ok {
				p.buf, p.open = buf, true
				return buf, p.ends, len(p.ends), false
			}
			p.ends = append(p.ends, len(buf))
			if i == len(line) {
				p.buf = buf
				return buf, p.ends, -1, false
			}
			if line[i] != p.sep {
				p.buf = buf
				return buf, p.ends, len(p.ends) - 1, false
			}
			i++
			continue
		}
		j := bytes.IndexByte(line[i:], p.sep)
		if j < 0 {
			buf = append(buf, line[i:]...)
			p.ends = append(p.ends, len(buf))
			p.buf = buf
			return buf, p.ends, -1, false
		}
		buf = append(buf, line[i:i+j]...)
		p.ends = append(p.ends, len(buf))
		i += j + 1
	}
}

// quoted appends the body of a quoted field starting at line[i] (just after
// the opening quote) and returns the index just after the closing quote, or
// false when the line ends first.
func (p *fieldParser) quoted(buf, line []byte, i int) ([]byte, int, bool) {
	for i < len(line) {
		c := line[i]
		switch {
		case c == '"':
			if i+1 < len(line) && line[i+1] == '"' {
				buf = append(buf, '"')
				i += 2
				continue
			}
			return buf, i + 1, true
		case c == '\\' && p.backslash && i+1 < len(line):
			buf = appendEscape(buf, line[i+1])
			i += 2
		default:
			j := i + 1
			for j < len(line) && line[j] != '"' && !(p.backslash && line[j] == '\\') {
				j++
			}
			buf = append(buf, line[i:j]...)
			i = j
		}
	}
	return buf, i, false
}

// appendEscape decodes a MySQL-style backslash escape as the dump writes
// them: \0 \b \Z are dropped, \n \r \t become a space (titles are one line),
// anything else stands for itself (\" \\ \').
func appendEscape(buf []byte, c byte) []byte {
	switch c {
	case '0', 'b', 'Z':
		return buf
	case 'n', 'r', 't':
		return append(buf, ' ')
	}
	return append(buf, c)
}

// transcode decodes every field from Windows-1252 to UTF-8 (bx-dump). It
// reports whether any byte needed decoding.
func (p *fieldParser) transcode(data []byte, ends []int) ([]byte, []int, bool) {
	if !hasHigh(data) {
		return data, ends, false
	}
	out := p.buf2[:0]
	start := 0
	for k, e := range ends {
		for _, c := range data[start:e] {
			if c < utf8.RuneSelf {
				out = append(out, c)
			} else {
				out = utf8.AppendRune(out, cp1252(c))
			}
		}
		start = e
		ends[k] = len(out)
	}
	p.buf2 = out
	return out, ends, true
}

// fixUTF8 replaces invalid UTF-8 in data (kaggle) by reading each offending
// byte as Windows-1252. It reports whether it changed anything.
func (p *fieldParser) fixUTF8(data []byte, ends []int) ([]byte, []int, bool) {
	// Fields are checked one by one: two broken halves on either side of a
	// dropped separator can make a valid sequence together.
	if k, _ := firstInvalid(data, ends); k < 0 {
		return data, ends, false
	}
	out := p.buf2[:0]
	start := 0
	for k, e := range ends {
		f := data[start:e]
		if utf8.Valid(f) {
			out = append(out, f...)
		} else {
			for len(f) > 0 {
				r, size := utf8.DecodeRune(f)
				if r == utf8.RuneError && size == 1 {
					out = utf8.AppendRune(out, cp1252(f[0]))
				} else {
					out = append(out, f[:size]...)
				}
				f = f[size:]
			}
		}
		start = e
		ends[k] = len(out)
	}
	p.buf2 = out
	return out, ends, true
}

// firstInvalid returns the index and bytes of the first field that is not
// valid UTF-8, or -1.
func firstInvalid(data []byte, ends []int) (int, []byte) {
	if !hasHigh(data) {
		return -1, nil
	}
	start := 0
	for k, e := range ends {
		if !utf8.Valid(data[start:e]) {
			return k, data[start:e]
		}
		start = e
	}
	return -1, nil
}

func hasHigh(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// cp1252 maps a byte of Windows-1252 (the superset of Latin-1 that the
// Book-Crossing dump was written in) to its rune. The five bytes that
// Windows-1252 leaves undefined map to the Latin-1 control characters.
func cp1252(c byte) rune {
	if c >= 0x80 && c <= 0x9F {
		return cp1252High[c-0x80]
	}
	return rune(c)
}

var cp1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// truncate shortens s to at most n bytes for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
