package dataset

import (
	"math"
	"testing"
)

func TestDuplicates(t *testing.T) {
	t.Parallel()
	type rating struct {
		user, book int32
		value      float32
	}
	tests := []struct {
		name                    string
		ratings                 []rating
		duplicates, conflicting int64
	}{
		{name: "none"},
		{name: "distinct pairs", ratings: []rating{{0, 0, 5}, {0, 1, 5}, {1, 0, 5}}},
		{name: "same value twice", ratings: []rating{{0, 0, 5}, {0, 0, 5}}, duplicates: 1},
		{name: "different value", ratings: []rating{{0, 0, 5}, {0, 0, 7}}, duplicates: 1, conflicting: 1},
		{name: "three values of one pair count one conflict", ratings: []rating{{2, 3, 1}, {2, 3, 2}, {2, 3, 3}}, duplicates: 2, conflicting: 1},
		{name: "conflict after agreement", ratings: []rating{{2, 3, 8}, {2, 3, 8}, {2, 3, 9}}, duplicates: 2, conflicting: 1},
		{name: "interleaved", ratings: []rating{{0, 0, 5}, {1, 1, 5}, {0, 0, 5}, {1, 1, 6}, {0, 1, 5}}, duplicates: 2, conflicting: 1},
		{name: "user and book are not swapped", ratings: []rating{{1, 2, 5}, {2, 1, 5}}},
		{name: "extreme ids", ratings: []rating{{math.MaxInt32, -1, 5}, {-1, math.MaxInt32, 5}, {math.MaxInt32, -1, 4}}, duplicates: 1, conflicting: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Duplicates
			for _, r := range tt.ratings {
				d.Add(r.user, r.book, r.value)
			}
			for range 2 { // Counts may be called again
				if dup, conf := d.Counts(); dup != tt.duplicates || conf != tt.conflicting {
					t.Fatalf("Counts() = %d, %d; want %d, %d", dup, conf, tt.duplicates, tt.conflicting)
				}
			}
			if d.Len() != len(tt.ratings) {
				t.Errorf("Len() = %d, want %d", d.Len(), len(tt.ratings))
			}
		})
	}
}

func TestDuplicatesAddAfterCounts(t *testing.T) {
	t.Parallel()
	var d Duplicates
	d.Add(1, 1, 5)
	d.Add(2, 2, 5)
	d.Counts()
	d.Add(1, 1, 6)
	if dup, conf := d.Counts(); dup != 1 || conf != 1 {
		t.Fatalf("Counts() = %d, %d; want 1, 1", dup, conf)
	}
}

// Add allocates nothing once Grow has made room.
func TestDuplicatesGrow(t *testing.T) {
	var d Duplicates
	d.Grow(1000)
	allocs := testing.AllocsPerRun(1, func() {
		d.pairs = d.pairs[:0]
		for i := range int32(1000) {
			d.Add(i%37, i%11, float32(i%3))
		}
		d.Counts()
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// The fixture read the way the prepare stage reads: ids interned in order
// of appearance, zeros left out.
func TestDuplicatesFixture(t *testing.T) {
	t.Parallel()
	_, ratings, _, err := readFixture(t, KindRatings, "bad/ratings-duplicates.csv")
	if err != nil {
		t.Fatal(err)
	}
	users, books := map[string]int32{}, map[string]int32{}
	intern := func(m map[string]int32, s string) int32 {
		if id, ok := m[s]; ok {
			return id
		}
		m[s] = int32(len(m))
		return m[s]
	}
	var d Duplicates
	for _, r := range ratings {
		if r.Value == 0 {
			continue
		}
		d.Add(intern(users, r.User), intern(books, r.ISBN), float32(r.Value))
	}
	if dup, conf := d.Counts(); dup != 3 || conf != 1 {
		t.Fatalf("Counts() = %d, %d; want 3 duplicates, 1 conflicting", dup, conf)
	}
}

func BenchmarkDuplicates(b *testing.B) {
	const n = 430_000 // about the explicit ratings of the real data set
	var d Duplicates
	d.Grow(n)
	b.ReportAllocs()
	for b.Loop() {
		d.pairs = d.pairs[:0]
		for i := range int32(n) {
			d.Add(i*7919%100_000, i*104_729%150_000, float32(1+i%10))
		}
		d.Counts()
	}
}

// FuzzDuplicates checks Counts against a map that remembers every value of
// each pair. Small ids make repeats likely.
func FuzzDuplicates(f *testing.F) {
	f.Add([]byte{0, 0, 5, 0, 0, 5, 0, 0, 7, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Duplicates
		values := map[[2]int32]map[float32]bool{}
		var wantDup int64
		for i := 0; i+2 < len(data); i += 3 {
			u, b, v := int32(data[i]%8)-4, int32(data[i+1]%8), float32(data[i+2]%3)
			d.Add(u, b, v)
			k := [2]int32{u, b}
			if values[k] == nil {
				values[k] = map[float32]bool{}
			} else {
				wantDup++
			}
			values[k][v] = true
		}
		var wantConf int64
		for _, vs := range values {
			if len(vs) > 1 {
				wantConf++
			}
		}
		if dup, conf := d.Counts(); dup != wantDup || conf != wantConf {
			t.Fatalf("Counts() = %d, %d; want %d, %d", dup, conf, wantDup, wantConf)
		}
	})
}
