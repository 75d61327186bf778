package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzInput turns the fuzzer's bytes into a file: mode picks a real header
// in either dialect (so that rows get exercised) or none at all, and a small
// record limit for half the inputs (so that line_too_long does).
func fuzzInput(kind Kind, data []byte, mode uint8) ([]byte, Reader) {
	var rd Reader
	if mode&4 != 0 {
		rd.MaxRecord = 48
	}
	cols := kind.Columns()
	var head []byte
	switch mode % 4 {
	case 1:
		head = []byte(joinHeader(cols, ",", ""))
	case 2:
		head = []byte(joinHeader(cols, ";", `"`))
	case 3:
		head = append([]byte("\xef\xbb\xbf"), joinHeader(cols, ",", "")...)
	}
	return append(head, data...), rd
}

func joinHeader(cols []string, sep, q string) string {
	var b bytes.Buffer
	for i, c := range cols {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(q + c + q)
	}
	b.WriteByte('\n')
	return b.String()
}

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.csv"))
	files = append(files, filepath.Join(testdata, "tiny", "Ratings.csv"), filepath.Join(testdata, "tiny", "Books.csv"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 4096 {
			data = data[:4096]
		}
		f.Add(data, uint8(0))
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			f.Add(data[i+1:], uint8(1))
			f.Add(data[i+1:], uint8(2))
			f.Add(data[i+1:], uint8(5))
		}
	}
	f.Add([]byte("1,2,3\n\"a\"\"b\",\"c\n"), uint8(1))
	f.Add([]byte("\"1\";\"x\\\";y\";\"2000\";\"P\"\r\n"), uint8(6))
	f.Add([]byte("&amp;&#xD800;&#0;,\xff\xfe,2050\n"), uint8(3))
	// Control characters in ids (issue 10): NUL, DEL, a tab inside, a
	// quoted line break.
	f.Add([]byte("1,00000\x0010,5\n\x002,0000000010,5\n3\x7f,1,5\n4,00\t10,5\n5,\"00\n10\",5\n"), uint8(1))
	f.Add([]byte("\"1\";\"00000\x0010\";\"5\"\n\"2\";\"0\\010\";\"5\"\n"), uint8(2))
	// Quoted line breaks: LF, CRLF, blank lines, a backslash before the
	// break (bx), a quote that never closes, one closed by junk, nested.
	f.Add([]byte("1,\"A\nTitle\",\"B\r\n\r\nC\",2000,P,s,m,l\n2,T,A,2001,P,s,m,l\n"), uint8(1))
	f.Add([]byte("\"1\";\"Caf\xe9\n\\\"N\\\"\";\"A\\\nB\";\"2000\";\"P\";\"s\";\"m\";\"l\"\n"), uint8(2))
	f.Add([]byte("1,\"a\n2,\"b\n3,\"c\",5\n4,0000000010,7\n"), uint8(1))
	f.Add([]byte("1,0000000010,\"5"+strings.Repeat("\n", maxRecordLines)+"\"\n2,3,4\n"), uint8(5))
	// Headers by name in any order and spelling, without image columns,
	// and none at all.
	f.Add([]byte("\xef\xbb\xbfuserID,ISBN,bookRating\r\n1,0000000010,5\r\n"), uint8(0))
	f.Add([]byte("ISBN;\"Book Rating\";user_id\n0000000010;5;1\n"), uint8(0))
	f.Add([]byte("Publisher,isbn,book_title,Book Author,YEAR OF PUBLICATION\nP,1,T,A,2001\nP,2,\"T\n2\",A,\n"), uint8(0))
	f.Add([]byte("Image-URL-L,ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher\nl,1,\"T\\\";A\",2001,P\n"), uint8(0))
	f.Add([]byte("1,0000000010,5\n2,0000000010,6\n"), uint8(0))
}

func checkReport(t *testing.T, rep Report, handed int64) {
	t.Helper()
	if rep.Accepted+rep.DroppedTotal() != rep.Rows {
		t.Fatalf("accepted %d + dropped %d != rows %d", rep.Accepted, rep.DroppedTotal(), rep.Rows)
	}
	if handed != rep.Accepted {
		t.Fatalf("%d rows handed out, %d accepted", handed, rep.Accepted)
	}
	if len(rep.Examples) > MaxExamples {
		t.Fatalf("%d examples", len(rep.Examples))
	}
	for _, ex := range rep.Examples {
		if !utf8.ValidString(ex.Column) || !utf8.ValidString(ex.Detail) || !utf8.ValidString(ex.Error()) {
			t.Fatalf("example %q is not valid UTF-8", ex.Error())
		}
	}
}

func checkUTF8(t *testing.T, line int, fields ...string) {
	t.Helper()
	for _, s := range fields {
		if !utf8.ValidString(s) {
			t.Fatalf("line %d: field %q is not valid UTF-8", line, s)
		}
	}
}

func FuzzReadRatings(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		in, rd := fuzzInput(KindRatings, data, mode)
		var handed int64
		last := 1
		rep, err := rd.ReadRatings(t.Context(), bytes.NewReader(in), "Ratings.csv", func(r Rating) error {
			handed++
			checkUTF8(t, r.Line, r.User, r.ISBN)
			if r.User == "" || r.ISBN == "" || r.Value < 0 || r.Value > MaxRating || r.Line <= last {
				t.Fatalf("bad rating %+v after line %d", r, last)
			}
			if hasControl([]byte(r.User)) || hasControl([]byte(r.ISBN)) {
				t.Fatalf("control character in rating %+v", r)
			}
			last = r.Line
			return nil
		})
		if err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q is not valid UTF-8", err)
			}
			return
		}
		checkReport(t, rep, handed)
	})
}

func FuzzReadBooks(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		in, rd := fuzzInput(KindBooks, data, mode)
		rd.MaxYear = 2030
		var handed int64
		last := 1
		rep, err := rd.ReadBooks(t.Context(), bytes.NewReader(in), "Books.csv", func(b Book) error {
			handed++
			checkUTF8(t, b.Line, b.ISBN, b.Title, b.Author, b.Publisher, b.ImageSmall, b.ImageMedium, b.ImageLarge)
			if b.ISBN == "" || b.Year < 0 || b.Year > 2030 || b.Line <= last {
				t.Fatalf("bad book %+v after line %d", b, last)
			}
			if hasControl([]byte(b.ISBN)) || strings.ContainsAny(b.Title+b.Author+b.Publisher, "\n") {
				t.Fatalf("control character in ISBN or line break in text of %+v", b)
			}
			last = b.Line
			return nil
		})
		if err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q is not valid UTF-8", err)
			}
			return
		}
		checkReport(t, rep, handed)
	})
}
