package dataset

import (
	"bytes"
	"os"
	"path/filepath"
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
		rep, err := rd.ReadRatings(t.Context(), bytes.NewReader(in), "Ratings.csv", func(r Rating) error {
			handed++
			checkUTF8(t, r.Line, r.User, r.ISBN)
			if r.User == "" || r.ISBN == "" || r.Value < 0 || r.Value > MaxRating || r.Line < 2 {
				t.Fatalf("bad rating %+v", r)
			}
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
		rep, err := rd.ReadBooks(t.Context(), bytes.NewReader(in), "Books.csv", func(b Book) error {
			handed++
			checkUTF8(t, b.Line, b.ISBN, b.Title, b.Author, b.Publisher, b.ImageSmall, b.ImageMedium, b.ImageLarge)
			if b.ISBN == "" || b.Year < 0 || b.Year > 2030 || b.Line < 2 {
				t.Fatalf("bad book %+v", b)
			}
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
