package als

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzSolveBlock feeds arbitrary CSR blocks, as a corrupt or hostile rating
// block might decode, to SolveBlock and SquaredError: they must return an
// error or finite factors, never panic.
func FuzzSolveBlock(f *testing.F) {
	f.Add(uint8(2), false, []byte{0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}, []byte{0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}, []byte{0, 0, 128, 64, 0, 0, 64, 64, 0, 0, 160, 64})
	f.Add(uint8(3), true, []byte{0, 0, 0, 0, 1, 0, 0, 0}, []byte{255, 255, 255, 255}, []byte{0, 0, 128, 63})
	f.Add(uint8(1), true, []byte{5, 0, 0, 0, 1, 0, 0, 0}, []byte{0, 0, 0, 0}, []byte{0, 0, 192, 127})
	// A finite rating near MaxFloat32 whose factor overflows float32.
	f.Add(uint8(1), true, []byte{0, 0, 0, 0, 1, 0, 0, 0}, []byte{0, 0, 0, 0}, []byte{0x30, 0x30, 0x43, 0x7f})
	f.Fuzz(func(t *testing.T, rank uint8, nonneg bool, ptr, col, val []byte) {
		k := int(rank%8) + 1
		rows := Rows{RowPtr: int32s(ptr), Col: int32s(col), Val: float32s(val)}
		fixed := gaussian(newRand(uint64(rank)), 4*k)
		p := Params{Rank: k, Iterations: 1, Reg: 0.1, Nonnegative: nonneg}
		out := make([]float32, rows.Len()*k)
		if err := SolveBlock(t.Context(), fixed, rows, p, out); err == nil && !finite32(out) {
			t.Errorf("SolveBlock succeeded with non-finite factors %v", out)
		}
		SquaredError(out, fixed, k, rows)
	})
}

func int32s(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func float32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
