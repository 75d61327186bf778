package dataset

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dialect Dialect
		line    string
		want    []string
		bad     int
		tooMany bool
	}{
		{"plain", Kaggle, "a,b,c", []string{"a", "b", "c"}, -1, false},
		{"empty line", Kaggle, "", []string{""}, -1, false},
		{"empty fields", Kaggle, ",,", []string{"", "", ""}, -1, false},
		{"quoted comma", Kaggle, `a,"b,c",d`, []string{"a", "b,c", "d"}, -1, false},
		{"doubled quote", Kaggle, `"say ""hi""",x`, []string{`say "hi"`, "x"}, -1, false},
		{"empty quoted", Kaggle, `"",""`, []string{"", ""}, -1, false},
		{"trailing quoted", Kaggle, `a,"b"`, []string{"a", "b"}, -1, false},
		{"bare quote kept", Kaggle, `a,b"c,d`, []string{"a", `b"c`, "d"}, -1, false},
		{"backslash literal in kaggle", Kaggle, `"a\",b`, []string{`a\`, "b"}, -1, false},
		{"unterminated", Kaggle, `a,"b,c`, nil, 1, false},
		{"junk after quote", Kaggle, `a,"b"x,c`, nil, 1, false},
		{"semicolons are data in kaggle", Kaggle, `a;b,c`, []string{"a;b", "c"}, -1, false},
		{"too many", Kaggle, "1,2,3,4,5", nil, -1, true},
		{"too many quoted", Kaggle, `"1","2","3","4","5"`, nil, -1, true},
		{"bx plain", BXDump, `"a";"b";"c"`, []string{"a", "b", "c"}, -1, false},
		{"bx unquoted", BXDump, `a;b;c`, []string{"a", "b", "c"}, -1, false},
		{"bx escaped quote", BXDump, `"say \"hi\"";"x"`, []string{`say "hi"`, "x"}, -1, false},
		{"bx escaped separator run", BXDump, `"t\";a";"2000"`, []string{`t";a`, "2000"}, -1, false},
		{"bx backslash escapes", BXDump, `"a\\b\nc\0d\'e"`, []string{`a\b cd'e`}, -1, false},
		{"bx doubled quote", BXDump, `"a""b"`, []string{`a"b`}, -1, false},
		{"bx trailing backslash", BXDump, `"abc\`, nil, 0, false},
		{"bx junk after quote", BXDump, `"a"b;"c"`, nil, 0, false},
		{"bx commas are data", BXDump, `"a,b";"c"`, []string{"a,b", "c"}, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFieldParser(tt.dialect, 4)
			data, ends, bad, tooMany := p.split([]byte(tt.line))
			if bad != tt.bad || tooMany != tt.tooMany {
				t.Fatalf("bad %d tooMany %v, want %d %v", bad, tooMany, tt.bad, tt.tooMany)
			}
			if tt.bad >= 0 || tt.tooMany {
				return
			}
			if got := fieldStrings(data, ends); !slices.Equal(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dialect Dialect
		line    string
		want    []string
	}{
		{"utf8 kept", Kaggle, "Café,Zoë", []string{"Café", "Zoë"}},
		{"latin1 byte in utf8", Kaggle, "Caf\xe9,Caf\xc3\xa9", []string{"Café", "Café"}},
		{"cp1252 quotes", Kaggle, "\x93q\x94,\x80", []string{"\u201cq\u201d", "€"}},
		{"undefined cp1252", Kaggle, "\x81", []string{"\u0081"}},
		{"truncated sequence", Kaggle, "a\xc3", []string{"aÃ"}},
		{"halves valid only across a separator", Kaggle, "0\xe9,\x93\xab", []string{"0é", "\u201c«"}},
		{"bx latin1", BXDump, "\"Ren\xe9e\";\"\x80\"", []string{"Renée", "€"}},
		{"bx utf8 bytes read as latin1", BXDump, "\"\xc3\xa9\"", []string{"Ã©"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFieldParser(tt.dialect, 8)
			data, ends, _, _ := p.split([]byte(tt.line))
			if tt.dialect == BXDump {
				data, ends, _ = p.transcode(data, ends)
			} else {
				data, ends, _ = p.fixUTF8(data, ends)
			}
			if got := fieldStrings(data, ends); !slices.Equal(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 3*readBufSize)
	tests := []struct {
		name  string
		input string
		limit int
		want  []string // "!" marks a line reported too long
	}{
		{"lf", "a\nb\n", 10, []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}},
		{"no final newline", "a\nb", 10, []string{"a", "b"}},
		{"blank lines", "\n\na\n", 10, []string{"", "", "a"}},
		{"at limit", "12345\n123456\n", 5, []string{"12345", "!"}},
		{"crlf at limit", "12345\r\n", 5, []string{"12345"}},
		{"too long at eof", "a\n123456", 5, []string{"a", "!"}},
		{"longer than buffer, fits", long + "\nz\n", len(long), []string{long, "z"}},
		{"longer than buffer, crlf", long + "\r\nz", len(long), []string{long, "z"}},
		{"longer than buffer, too long", long + "\nz\n", len(long) - 1, []string{"!", "z"}},
		{"longer than buffer at eof", "z\n" + long, 100, []string{"z", "!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lr := lineReader{br: bufio.NewReaderSize(strings.NewReader(tt.input), readBufSize)}
			var got []string
			for {
				line, tooLong, err := lr.next(tt.limit)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if tooLong {
					got = append(got, "!")
				} else {
					got = append(got, string(line))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines %.40q, want %.40q", got, tt.want)
			}
			if lr.line != len(tt.want) {
				t.Errorf("line counter %d, want %d", lr.line, len(tt.want))
			}
		})
	}
}

func TestCP1252(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		r := cp1252(byte(c))
		if c < 0x80 || c >= 0xA0 {
			if r != rune(c) {
				t.Errorf("cp1252(%#x) = %U, want %U", c, r, c)
			}
			continue
		}
		if r < 0x80 {
			t.Errorf("cp1252(%#x) = %U, want a non-ASCII rune", c, r)
		}
	}
	if got := cp1252(0x80); got != '€' {
		t.Errorf("cp1252(0x80) = %q, want €", got)
	}
	if !bytes.Equal([]byte(string(cp1252(0x9f))), []byte("Ÿ")) {
		t.Errorf("cp1252(0x9f) = %q, want Ÿ", cp1252(0x9f))
	}
}
