package als

import (
	"math"
	"math/rand/v2"
)

// InitFactors fills out (n×k, n = len(out)/k) with the initial factors of the
// global rows start..start+n-1 of side. Like Spark's ALS.initialize, each row
// is k standard normal draws scaled to unit L2 norm, so the initial factors
// are uniform on the unit sphere. Each row has its own generator seeded from
// (seed, side, global row), so the result does not depend on how rows are
// split into blocks. A trailing partial row (len(out) not a multiple of k) is
// left untouched; k < 1 writes nothing.
func InitFactors(seed int64, side Side, start int, k int, out []float32) {
	if k < 1 {
		return
	}
	var src rand.PCG
	rng := rand.New(&src)
	n := len(out) / k
	for i := range n {
		s1, s2 := rowSeed(seed, side, start+i)
		src.Seed(s1, s2)
		row := out[i*k : i*k+k]
		var sum float64
		for j := range row {
			v := float32(rng.NormFloat64())
			row[j] = v
			sum += float64(float64(v) * float64(v))
		}
		if sum == 0 {
			// k zero draws in a row do not happen in practice; keep the
			// unit-norm invariant anyway.
			row[0] = 1
			continue
		}
		inv := 1 / math.Sqrt(sum)
		for j, v := range row {
			row[j] = float32(float64(v) * inv)
		}
	}
}

// rowSeed derives the two PCG seed words of one row by chaining splitmix64
// over seed, side and row, so nearby triples give unrelated streams.
func rowSeed(seed int64, side Side, row int) (uint64, uint64) {
	h := splitmix64(uint64(seed))
	h = splitmix64(h ^ uint64(side))
	h = splitmix64(h ^ uint64(row))
	return h, splitmix64(h)
}

// splitmix64 is the finaliser of Steele et al.'s SplitMix64 generator, a
// bijection on uint64 with good avalanche.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
