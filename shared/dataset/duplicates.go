package dataset

import (
	"cmp"
	"slices"
)

// Duplicates counts repeated (user, book) pairs among ratings. The readers
// pass every row on (each one is a rating and trains, as in Spark); the
// prepare stage feeds the rows it keeps to a Duplicates to report how many
// repeat a pair and how many pairs disagree.
//
// Add costs 16 bytes of one growing slice per rating and no map: the pairs
// are sorted once, by Counts. The zero value is ready to use.
type Duplicates struct {
	pairs  []ratedPair
	sorted bool // pairs are in key order: nothing was added since Counts
}

type ratedPair struct {
	key    uint64 // user in the high 32 bits, book in the low
	rating float32
}

// Grow makes room for n more ratings, so that Add does not reallocate.
func (d *Duplicates) Grow(n int) {
	d.pairs = slices.Grow(d.pairs, n)
}

// Add records one rating of book by user. The ids are any int32 that name
// users and books one to one, such as the dense indices of the prepare
// stage.
func (d *Duplicates) Add(user, book int32, rating float32) {
	d.pairs = append(d.pairs, ratedPair{uint64(uint32(user))<<32 | uint64(uint32(book)), rating})
	d.sorted = false
}

// Len is the number of ratings added.
func (d *Duplicates) Len() int { return len(d.pairs) }

// Counts returns how many ratings repeat a (user, book) pair added before
// (a pair rated k times counts k-1) and how many pairs were rated with more
// than one value (a pair counts once however many values it has). Ratings
// are compared with ==. Counts sorts the ratings in place; Add may go on
// after it.
func (d *Duplicates) Counts() (duplicates, conflicting int64) {
	if !d.sorted {
		slices.SortFunc(d.pairs, func(a, b ratedPair) int { return cmp.Compare(a.key, b.key) })
		d.sorted = true
	}
	for i := 0; i < len(d.pairs); {
		j, conflict := i+1, false
		for j < len(d.pairs) && d.pairs[j].key == d.pairs[i].key {
			conflict = conflict || d.pairs[j].rating != d.pairs[i].rating
			j++
		}
		duplicates += int64(j - i - 1)
		if conflict {
			conflicting++
		}
		i = j
	}
	return duplicates, conflicting
}
