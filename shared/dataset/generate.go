package dataset

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// GenParams shapes a synthetic Book-Crossing data set.
type GenParams struct {
	Users   int // size of the user id space (ids 1..Users); many never rate, as in the real data
	Books   int // rows in Books.csv
	Ratings int // rows in Ratings.csv
	// ZeroFraction is the share of ratings that are 0 (implicit feedback).
	ZeroFraction float64
	// MissingBookFraction is the share of the ISBN universe, and so about
	// the share of rated ISBNs, that is absent from Books.csv.
	MissingBookFraction float64
	// Groups is the number of latent groups (genres) books belong to. Each
	// user prefers 1–2 of them, rates mostly their books, and rates those
	// 7–10 and the others 1–5.
	Groups  int
	Seed    int64   // the output is a pure function of the params
	Dialect Dialect // "" means Kaggle
	// Quirks plants one row of each quirk the readers repair into the first
	// rows of Books.csv (see GenStats.Quirks).
	Quirks bool
}

// DefaultGenParams returns the published shape of the real data set:
// 278,858 users, 271,360 books, 1,149,780 ratings, 62 % of them 0, and about
// 20 % of the rated ISBNs missing from Books.csv.
func DefaultGenParams() GenParams {
	return GenParams{
		Users:               278858,
		Books:               271360,
		Ratings:             1149780,
		ZeroFraction:        0.62,
		MissingBookFraction: 0.20,
		Groups:              20,
		Seed:                1,
		Dialect:             Kaggle,
		Quirks:              true,
	}
}

// Validate reports every problem with p at once.
func (p GenParams) Validate() error {
	var errs []error
	if p.Users < 1 {
		errs = append(errs, fmt.Errorf("users %d: want at least 1", p.Users))
	}
	if p.Books < 1 {
		errs = append(errs, fmt.Errorf("books %d: want at least 1", p.Books))
	}
	if p.Ratings < 0 {
		errs = append(errs, fmt.Errorf("ratings %d: want at least 0", p.Ratings))
	}
	if !(p.ZeroFraction >= 0 && p.ZeroFraction <= 1) {
		errs = append(errs, fmt.Errorf("zero fraction %v: want 0..1", p.ZeroFraction))
	}
	if !(p.MissingBookFraction >= 0 && p.MissingBookFraction <= 0.9) {
		errs = append(errs, fmt.Errorf("missing book fraction %v: want 0..0.9", p.MissingBookFraction))
	}
	if p.Groups < 1 || p.Groups > p.Books {
		errs = append(errs, fmt.Errorf("groups %d: want 1..books (%d)", p.Groups, p.Books))
	}
	if p.Dialect != "" && p.Dialect != Kaggle && p.Dialect != BXDump {
		errs = append(errs, fmt.Errorf("dialect %q: want %q or %q", p.Dialect, Kaggle, BXDump))
	}
	if len(errs) == 0 && p.Ratings > p.Users*p.perUserCap() {
		errs = append(errs, fmt.Errorf("ratings %d: more than %d users can give to %d ISBNs without repeats",
			p.Ratings, p.Users, p.universe()))
	}
	return errors.Join(errs...)
}

// universe is the number of ISBNs: the books plus the missing ones.
func (p GenParams) universe() int {
	missing := int(math.Round(float64(p.Books) * p.MissingBookFraction / (1 - p.MissingBookFraction)))
	return p.Books + missing
}

// perUserCap bounds one user's ratings so that drawing distinct books stays
// cheap.
func (p GenParams) perUserCap() int { return (p.universe() + 1) / 2 }

// GenStats describes what Generate wrote.
type GenStats struct {
	Books        int // rows written to Books.csv
	Ratings      int // rows written to Ratings.csv
	Zero         int // ratings of 0
	Users        int // distinct users with at least one rating
	RatedISBNs   int // distinct ISBNs rated
	MissingISBNs int // distinct rated ISBNs absent from Books.csv
	// Quirks counts the quirk rows planted in Books.csv by the
	// Report.Repaired key that reading them back produces.
	Quirks map[string]int64
}

// Shape of the heavy tails: P(k) ∝ (v+k)^-s over the rank k of a user's
// activity and of a book's popularity within its group. With the default
// params about 108k users rate (105k in the real data), the most active one
// about 3.8k times. A share of draws is uniform within the group, so that
// the long tail of books gets rated at all, as nearly every real one is.
const (
	userZipfS, userZipfV = 1.3, 100
	bookZipfS, bookZipfV = 1.1, 5
	uniformShare         = 0.4  // share of book draws uniform within the group
	preferredShare       = 0.85 // share of a user's ratings drawn from preferred groups
	pickTries            = 16   // group draws before falling back to any ISBN
)

// Generate writes a synthetic Books.csv to books and Ratings.csv to ratings.
// The bytes depend only on p. Ratings are written grouped by user in id
// order; a user never rates one ISBN twice.
func Generate(ctx context.Context, p GenParams, books, ratings io.Writer) (GenStats, error) {
	if err := p.Validate(); err != nil {
		return GenStats{}, fmt.Errorf("generate: %w", err)
	}
	if p.Dialect == "" {
		p.Dialect = Kaggle
	}
	g := &generator{p: p, n: p.universe()}
	g.st.Quirks = map[string]int64{}
	// Separate streams, so that the text of the books does not move the
	// ratings.
	g.rr = rand.New(rand.NewPCG(uint64(p.Seed), 0x5eed_0001))
	g.rb = rand.New(rand.NewPCG(uint64(p.Seed), 0x5eed_0002))
	g.layout()
	if err := g.writeBooks(ctx, books); err != nil {
		return GenStats{}, err
	}
	if err := g.writeRatings(ctx, ratings); err != nil {
		return GenStats{}, err
	}
	return g.st, nil
}

type generator struct {
	p      GenParams
	n      int // ISBN universe; indices >= p.Books are missing from Books.csv
	rr, rb *rand.Rand
	group  []int32   // group of each ISBN
	byRank [][]int32 // per group, ISBNs by popularity rank
	st     GenStats
}

// layout spreads the ISBN universe over the groups and popularity ranks at
// random, so missing ISBNs are as popular as the others.
func (g *generator) layout() {
	G := g.p.Groups
	g.group = make([]int32, g.n)
	g.byRank = make([][]int32, G)
	for k := range g.byRank {
		g.byRank[k] = make([]int32, (g.n-k+G-1)/G)
	}
	for j, q := range g.rr.Perm(g.n) {
		g.group[j] = int32(q % G)
		g.byRank[q%G][q/G] = int32(j)
	}
}

// isbnOf returns a valid ISBN-10 for ISBN index j: the 9-digit body is a
// bijection of j (the multiplier is coprime to 10⁹), the check digit may be X.
func isbnOf(j int) string {
	var b [10]byte
	return string(appendISBN(b[:0], j))
}

func appendISBN(dst []byte, j int) []byte {
	body := (uint64(j)*387420489 + 104729) % 1_000_000_000
	var b [10]byte
	sum := uint64(0)
	for i := 8; i >= 0; i-- {
		d := body % 10
		body /= 10
		b[i] = byte('0' + d)
		sum += uint64(i+1) * d
	}
	if c := sum % 11; c == 10 {
		b[9] = 'X'
	} else {
		b[9] = byte('0' + c)
	}
	return append(dst, b[:]...)
}

// publisherOf names group k's publisher; GroupOf reads it back.
func publisherOf(k int) string { return fmt.Sprintf("Group %03d Press", k) }

// GroupOf recovers the planted group of a generated book from its Publisher
// ("Group 007 Press" → 7). It reports false for any other publisher.
func GroupOf(publisher string) (int, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(publisher), "Group ")
	if !ok {
		return 0, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 || (i < len(rest) && rest[i] != ' ') {
		return 0, false
	}
	k, err := strconv.Atoi(rest[:i])
	return k, err == nil
}

var (
	genAdjectives = []string{"Silent", "Hidden", "Last", "Golden", "Broken", "Distant", "Crimson", "Quiet",
		"Wild", "Secret", "Winter", "Burning", "Hollow", "Bright", "Lost", "Iron", "Paper", "Midnight",
		"Northern", "Gentle", "Salt", "Restless", "Velvet", "Open"}
	genNouns = []string{"River", "Garden", "Harbor", "Kingdom", "Letter", "Orchard", "Mirror", "Lantern",
		"Road", "Island", "Tower", "Voyage", "Forest", "Promise", "Shadow", "Meadow", "Bridge", "Summer",
		"Compass", "Archive", "Stone", "Window", "Season", "Crown"}
	genPlaces = []string{"the North", "Avalon", "the Sea", "Glass", "the Valley", "Seven Hills", "Dust",
		"the Old Town", "Ashes", "the Moors", "Tomorrow", "the Plains"}
	genFirst = []string{"Anna", "James", "Maria", "John", "Sophie", "Peter", "Laura", "David", "Emma",
		"Michael", "Clara", "Thomas", "José", "Zoë", "Søren", "Françoise", "Renée", "Jürgen", "Inés", "Noël"}
	genLast = []string{"Smith", "Brown", "Taylor", "Walker", "Clarke", "Hughes", "Bennett", "Foster",
		"Meyer", "Rossi", "Dubois", "Müller", "Núñez", "Ørsted", "Lefèvre", "García", "O'Brien", "Nakamura"}
)

func (g *generator) title() string {
	r := g.rb
	t := "The " + genAdjectives[r.IntN(len(genAdjectives))] + " " + genNouns[r.IntN(len(genNouns))]
	switch x := r.IntN(100); {
	case x < 25:
		t += " of " + genPlaces[r.IntN(len(genPlaces))]
	case x < 30: // a comma: quoted in the kaggle dialect
		t += ", Volume " + strconv.Itoa(1+r.IntN(9))
	case x < 32: // quotes: "" or \" escapes
		t = `The "` + genAdjectives[r.IntN(len(genAdjectives))] + `" ` + genNouns[r.IntN(len(genNouns))]
	}
	return t
}

func (g *generator) author() string {
	return genFirst[g.rb.IntN(len(genFirst))] + " " + genLast[g.rb.IntN(len(genLast))]
}

// writeBooks writes Books.csv: ISBN indices 0..Books-1 in order.
func (g *generator) writeBooks(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csvWriter{d: g.p.Dialect}
	cw.row(KindBooks.Columns())
	if _, err := bw.Write(cw.buf); err != nil {
		return fmt.Errorf("write books header: %w", err)
	}
	fields := make([]string, 8)
	for j := range g.p.Books {
		if j%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		isbn := isbnOf(j)
		fields = append(fields[:0], isbn, g.title(), g.author(), strconv.Itoa(1950+g.rb.IntN(55)),
			publisherOf(int(g.group[j])),
			"http://images.example.com/P/"+isbn+".01.THUMBZZZ.jpg",
			"http://images.example.com/P/"+isbn+".01.MZZZZZZZ.jpg",
			"http://images.example.com/P/"+isbn+".01.LZZZZZZZ.jpg")
		if g.p.Quirks {
			fields = g.quirk(j, fields)
		}
		cw.row(fields)
		if _, err := bw.Write(cw.buf); err != nil {
			return fmt.Errorf("write books row %d: %w", j+1, err)
		}
		g.st.Books++
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write books: %w", err)
	}
	return nil
}

// quirk turns the first rows into the quirks of the real Books.csv.
func (g *generator) quirk(j int, f []string) []string {
	switch j {
	case 0: // title and author merged by the dump's \"; the rest moved left
		g.st.Quirks[RepairShiftedRow]++
		if g.p.Dialect == BXDump {
			return []string{f[0], f[1] + `";` + f[2], f[3], f[4], f[5], f[6], f[7]}
		}
		return []string{f[0], f[1] + `\";` + f[2] + `"`, f[3], f[4], f[5], f[6], f[7], ""}
	case 1:
		g.st.Quirks[RepairYearZero]++
		f[3] = "0"
	case 2:
		g.st.Quirks[RepairYearOutOfRange]++
		f[3] = "2050"
	case 3:
		g.st.Quirks[RepairHTMLEntity]++
		f[1] = "The " + genAdjectives[j] + " &amp; " + genNouns[j]
	case 4:
		if g.p.Dialect == Kaggle { // a stray Latin-1 byte in a UTF-8 file
			g.st.Quirks[RepairLatin1]++
			f[2] = "Ren\xe9e Lefebvre"
		}
	}
	return f
}

// writeRatings writes Ratings.csv, users in id order.
func (g *generator) writeRatings(ctx context.Context, w io.Writer) error {
	p := g.p
	r := g.rr
	// Heavy-tailed activity over users in a random order of ids.
	userRank := r.Perm(p.Users)
	counts := make([]int32, p.Users)
	zu := rand.NewZipf(r, userZipfS, userZipfV, uint64(p.Users-1))
	limit := int32(p.perUserCap())
	for range p.Ratings {
		u := userRank[zu.Uint64()]
		for counts[u] >= limit { // Validate guarantees room somewhere
			u = (u + 1) % p.Users
		}
		counts[u]++
	}
	zb := make([]*rand.Zipf, p.Groups)
	for k, books := range g.byRank {
		if len(books) > 1 {
			zb[k] = rand.NewZipf(r, bookZipfS, bookZipfV, uint64(len(books)-1))
		}
	}
	seen := make([]int32, g.n) // seen[j] == u+1: user u rated ISBN j already
	rated := make([]bool, g.n)
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csvWriter{d: p.Dialect}
	cw.row(KindRatings.Columns())
	var line []byte
	if _, err := bw.Write(cw.buf); err != nil {
		return fmt.Errorf("write ratings header: %w", err)
	}
	var prefs [2]int32
	written := 0
	for u, c := range counts {
		if c == 0 {
			continue
		}
		g.st.Users++
		np := 1
		prefs[0] = int32(r.IntN(p.Groups))
		if p.Groups > 1 && r.IntN(2) == 0 {
			np = 2
			prefs[1] = int32((int(prefs[0]) + 1 + r.IntN(p.Groups-1)) % p.Groups)
		}
		for range c {
			if written%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			j := g.pick(prefs[:np], zb, seen, int32(u+1))
			v := 0
			switch {
			case r.Float64() < p.ZeroFraction:
				g.st.Zero++
			case g.group[j] == prefs[0] || (np == 2 && g.group[j] == prefs[1]):
				v = 7 + r.IntN(4)
			default:
				v = 1 + r.IntN(5)
			}
			if !rated[j] {
				rated[j] = true
				g.st.RatedISBNs++
				if j >= p.Books {
					g.st.MissingISBNs++
				}
			}
			line = cw.rating(line[:0], u+1, j, v)
			if _, err := bw.Write(line); err != nil {
				return fmt.Errorf("write ratings row %d: %w", written+1, err)
			}
			written++
		}
	}
	g.st.Ratings = written
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write ratings: %w", err)
	}
	return nil
}

// pick draws an ISBN the user has not rated yet: by popularity from a
// preferred group (or, less often, any group), falling back to a uniform
// draw when the user has exhausted the popular ones.
func (g *generator) pick(prefs []int32, zb []*rand.Zipf, seen []int32, stamp int32) int {
	r := g.rr
	for try := 0; ; try++ {
		var j int
		if try < pickTries {
			k := int(prefs[r.IntN(len(prefs))])
			if r.Float64() >= preferredShare {
				k = r.IntN(g.p.Groups)
			}
			rank := 0
			if r.Float64() < uniformShare {
				rank = r.IntN(len(g.byRank[k]))
			} else if zb[k] != nil {
				rank = int(zb[k].Uint64())
			}
			j = int(g.byRank[k][rank])
		} else {
			j = r.IntN(g.n)
		}
		if seen[j] != stamp {
			seen[j] = stamp
			return j
		}
	}
}

// csvWriter formats rows in a dialect into buf.
type csvWriter struct {
	d   Dialect
	buf []byte
}

func (w *csvWriter) row(fields []string) {
	w.buf = w.buf[:0]
	for i, f := range fields {
		if i > 0 {
			w.buf = append(w.buf, w.sep())
		}
		w.buf = w.field(w.buf, f)
	}
	w.buf = append(w.buf, '\n')
}

func (w *csvWriter) sep() byte {
	if w.d == BXDump {
		return ';'
	}
	return ','
}

// field appends one field: kaggle quotes only when needed and doubles
// quotes; bx-dump quotes always, escapes with backslashes and writes
// Latin-1 (text here never leaves it).
func (w *csvWriter) field(b []byte, f string) []byte {
	if w.d == BXDump {
		b = append(b, '"')
		for _, r := range f {
			switch {
			case r == '"' || r == '\\':
				b = append(b, '\\', byte(r))
			case r < 0x100:
				b = append(b, byte(r))
			default:
				b = append(b, '?')
			}
		}
		return append(b, '"')
	}
	if !strings.ContainsAny(f, ",\"\r\n") && (f == "" || (f[0] != ' ' && f[len(f)-1] != ' ')) {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

// rating appends one Ratings.csv row.
func (w *csvWriter) rating(b []byte, user, isbn, v int) []byte {
	if w.d == BXDump {
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(user), 10)
		b = append(b, `";"`...)
		b = appendISBN(b, isbn)
		b = append(b, `";"`...)
		b = strconv.AppendInt(b, int64(v), 10)
		return append(b, "\"\n"...)
	}
	b = strconv.AppendInt(b, int64(user), 10)
	b = append(b, ',')
	b = appendISBN(b, isbn)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, '\n')
}
