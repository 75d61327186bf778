package als

import (
	"math"
	"testing"
)

func TestSquaredError(t *testing.T) {
	t.Parallel()
	// k = 2. Users: 0 = (1, 2), 1 = (0, 0) has no factors, 2 = (1, 0).
	// Items: 0 = (1, 1), 1 = (0, 0) has no factors, 2 = (2, 0).
	userF := []float32{1, 2, 0, 0, 1, 0}
	itemF := []float32{1, 1, 0, 0, 2, 0}
	tests := []struct {
		name       string
		userF      []float32
		k          int
		rows       Rows
		sum        float64
		n, skipped int
	}{
		{
			// (4 − 3)² + (1 − 2)² = 2; the item without factors is skipped.
			name:  "user 0",
			userF: userF, k: 2,
			rows: csr(3, []rating{{0, 0, 4}, {0, 1, 5}, {0, 2, 1}}),
			sum:  2, n: 2, skipped: 1,
		},
		{
			name: "user without factors", userF: userF, k: 2,
			rows: csr(3, []rating{{1, 0, 4}, {1, 2, 3}}),
			sum:  0, n: 0, skipped: 2,
		},
		{
			// (3 − 1)² + (2.5 − 2)² = 4.25.
			name: "user 2", userF: userF, k: 2,
			rows: csr(3, []rating{{2, 0, 3}, {2, 2, 2.5}}),
			sum:  4.25, n: 2, skipped: 0,
		},
		{
			name: "item out of range", userF: userF, k: 2,
			rows: csr(3, []rating{{0, 3, 1}, {0, 0, 3}}),
			sum:  0, n: 1, skipped: 1,
		},
		{
			name: "user out of range", userF: userF[:4], k: 2,
			rows: csr(3, []rating{{2, 0, 3}, {0, 0, 3}}),
			sum:  0, n: 1, skipped: 1,
		},
		{
			// Rows [0, 1), [1, 0) (empty) and [0, 2):
			// (3 − 3)² + (3 − 1)² + (1 − 2)² = 5.
			name: "malformed row pointers are clamped", userF: userF, k: 2,
			rows: Rows{RowPtr: []int32{-5, 1, 0, 9}, Col: []int32{0, 2}, Val: []float32{3, 1}},
			sum:  5, n: 3, skipped: 0,
		},
		{name: "rank zero", userF: userF, k: 0, rows: csr(1, []rating{{0, 0, 1}})},
		{name: "no rows", userF: userF, k: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum, n, skipped := SquaredError(tt.userF, itemF, tt.k, tt.rows)
			if math.Abs(sum-tt.sum) > 1e-12 || n != tt.n || skipped != tt.skipped {
				t.Errorf("SquaredError = %v, %d, %d; want %v, %d, %d", sum, n, skipped, tt.sum, tt.n, tt.skipped)
			}
		})
	}
}
