package als

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// planted is a synthetic problem: ratings U·Vᵀ + noise for nonnegative
// rank-k U and V, observed at random and split into train and test.
type planted struct {
	users, items int
	train, test  []rating
	noise        float64
}

func newPlanted(seed uint64, users, items, k int, observed, noise float64) planted {
	rng := newRand(seed)
	u := make([]float64, users*k)
	v := make([]float64, items*k)
	for i := range u {
		u[i] = 1.5 * rng.Float64()
	}
	for i := range v {
		v[i] = 1.5 * rng.Float64()
	}
	p := planted{users: users, items: items, noise: noise}
	for a := range users {
		for b := range items {
			if rng.Float64() >= observed {
				continue
			}
			var r float64
			for j := range k {
				r += u[a*k+j] * v[b*k+j]
			}
			t := rating{a, b, float32(r + noise*rng.NormFloat64())}
			if rng.Float64() < 0.2 {
				p.test = append(p.test, t)
			} else {
				p.train = append(p.train, t)
			}
		}
	}
	return p
}

// TestTrainRecoversPlanted trains on a planted low-rank matrix and requires
// the held-out RMSE to be near the noise level. Measured with these seeds:
// nonnegative 0.1156 and unconstrained 0.1086 against noise 0.1 (the rest is
// estimation error, 3 parameters per side from ~48 and ~72 ratings, and
// shrinkage from Reg), while predicting the training mean gives 0.904.
func TestTrainRecoversPlanted(t *testing.T) {
	t.Parallel()
	const noise = 0.1
	prob := newPlanted(1, 300, 200, 3, 0.3, noise)
	userRows := csr(prob.users, prob.train)
	itemRows := csr(prob.items, transpose(prob.train))
	testRows := csr(prob.users, prob.test)

	var mean float64
	for _, r := range prob.train {
		mean += float64(r.val)
	}
	mean /= float64(len(prob.train))
	var baseline float64
	for _, r := range prob.test {
		baseline += (float64(r.val) - mean) * (float64(r.val) - mean)
	}
	baseline = math.Sqrt(baseline / float64(len(prob.test)))

	tests := []struct {
		name   string
		p      Params
		maxRMS float64
	}{
		{name: "nonnegative", p: Params{Rank: 3, Iterations: 30, Reg: 0.01, Nonnegative: true, Seed: 42}, maxRMS: 1.3 * noise},
		{name: "unconstrained", p: Params{Rank: 3, Iterations: 30, Reg: 0.01, Seed: 42}, maxRMS: 1.3 * noise},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			userF, itemF, err := Train(t.Context(), prob.users, prob.items, userRows, itemRows, tt.p)
			if err != nil {
				t.Fatalf("Train: %v", err)
			}
			if tt.p.Nonnegative && (slices.ContainsFunc(userF, func(v float32) bool { return v < 0 }) ||
				slices.ContainsFunc(itemF, func(v float32) bool { return v < 0 })) {
				t.Error("nonnegative training produced negative factors")
			}
			sum, n, skipped := SquaredError(userF, itemF, tt.p.Rank, testRows)
			if n != len(prob.test) || skipped != 0 {
				t.Errorf("SquaredError counted %d, skipped %d; want %d, 0", n, skipped, len(prob.test))
			}
			rmse := math.Sqrt(sum / float64(n))
			t.Logf("test RMSE %.4f (noise %.2f, mean predictor %.4f)", rmse, noise, baseline)
			if rmse > tt.maxRMS {
				t.Errorf("test RMSE %.4f > %.4f", rmse, tt.maxRMS)
			}
			if rmse > baseline/4 {
				t.Errorf("test RMSE %.4f is not well below the mean predictor's %.4f", rmse, baseline)
			}
		})
	}
}

// TestTrainMatchesBlocks runs the alternation the way the pipeline does, one
// SolveBlock per block with each block's own InitFactors, and requires the
// same bits as Train.
func TestTrainMatchesBlocks(t *testing.T) {
	t.Parallel()
	prob := newPlanted(2, 120, 90, 4, 0.2, 0.1)
	// Leave user 5 and item 7 without ratings.
	train := slices.DeleteFunc(slices.Clone(prob.train), func(r rating) bool { return r.row == 5 || r.col == 7 })
	userRows := csr(prob.users, train)
	itemRows := csr(prob.items, transpose(train))
	p := Params{Rank: 4, Iterations: 3, Reg: 0.1, Nonnegative: true, Seed: 9}
	k := p.Rank
	wantU, wantI, err := Train(t.Context(), prob.users, prob.items, userRows, itemRows, p)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	if !isZero(wantU[5*k:6*k]) || !isZero(wantI[7*k:8*k]) {
		t.Error("rows without ratings have non-zero factors")
	}

	userBlocks, itemBlocks := []int{0, 50, 51, 120}, []int{0, 30, 60, 90}
	userF := make([]float32, prob.users*k)
	itemF := make([]float32, prob.items*k)
	for i := range len(userBlocks) - 1 {
		lo, hi := userBlocks[i], userBlocks[i+1]
		InitFactors(p.Seed, Users, lo, k, userF[lo*k:hi*k])
	}
	solve := func(fixed []float32, rows Rows, bounds []int, out []float32) {
		for i := range len(bounds) - 1 {
			lo, hi := bounds[i], bounds[i+1]
			if err := SolveBlock(t.Context(), fixed, slice(rows, lo, hi), p, out[lo*k:hi*k]); err != nil {
				t.Fatalf("block [%d, %d): %v", lo, hi, err)
			}
		}
	}
	for range p.Iterations {
		solve(userF, itemRows, itemBlocks, itemF)
		solve(itemF, userRows, userBlocks, userF)
	}
	if !slices.Equal(userF, wantU) || !slices.Equal(itemF, wantI) {
		t.Error("block-wise training differs from Train")
	}
	againU, againI, err := Train(t.Context(), prob.users, prob.items, userRows, itemRows, p)
	if err != nil {
		t.Fatalf("Train again: %v", err)
	}
	if !slices.Equal(againU, wantU) || !slices.Equal(againI, wantI) {
		t.Error("Train is not deterministic")
	}
}

func TestTrainErrors(t *testing.T) {
	t.Parallel()
	rows := csr(2, []rating{{0, 0, 1}, {1, 1, 2}})
	good := Params{Rank: 2, Iterations: 1, Reg: 0.1}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name         string
		ctx          context.Context
		users, items int
		p            Params
		want         string
		is           error
	}{
		{name: "bad params", ctx: t.Context(), users: 2, items: 2, p: Params{}, want: "rank 0"},
		{name: "user count", ctx: t.Context(), users: 3, items: 2, p: good, want: "user rows have 2 rows, want 3"},
		{name: "item count", ctx: t.Context(), users: 2, items: 1, p: good, want: "item rows have 2 rows, want 1"},
		{name: "negative size", ctx: t.Context(), users: -1, items: 2, p: good, want: "negative size"},
		{name: "canceled", ctx: canceled, users: 2, items: 2, p: good, want: "iteration 0 items", is: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Train(tt.ctx, tt.users, tt.items, rows, rows, tt.p)
			if err == nil {
				t.Fatal("Train succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func ExampleTrain() {
	// Two users, three books; user 1 has not rated book 2.
	ratings := []rating{{0, 0, 5}, {0, 1, 3}, {0, 2, 4}, {1, 0, 4}, {1, 1, 2}}
	userRows := csr(2, ratings)
	itemRows := csr(3, transpose(ratings))
	p := Params{Rank: 2, Iterations: 20, Reg: 0.01, Nonnegative: true, Seed: 1}
	userF, itemF, err := Train(context.Background(), 2, 3, userRows, itemRows, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, n, _ := SquaredError(userF, itemF, p.Rank, userRows)
	fmt.Printf("train RMSE %.1f\n", math.Sqrt(sum/float64(n)))
	var predicted float32
	for j := range p.Rank {
		predicted += userF[1*p.Rank+j] * itemF[2*p.Rank+j]
	}
	fmt.Printf("user 1, book 2: %.0f\n", predicted)
	// Output:
	// train RMSE 0.1
	// user 1, book 2: 3
}
