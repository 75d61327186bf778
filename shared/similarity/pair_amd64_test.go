//go:build !purego

package similarity

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// platformPairKernels is the AVX2 kernel when the CPU has AVX2.
func platformPairKernels(t testing.TB) []PairKernel {
	if !cpu.X86.HasAVX2 {
		t.Log("no AVX2 on this CPU: the avx2 kernel is not tested")
		return nil
	}
	return []PairKernel{AVX2Pair{}}
}

func TestDefaultPairIsAVX2(t *testing.T) {
	t.Parallel()
	if want := map[bool]string{true: "avx2", false: "portable"}[cpu.X86.HasAVX2]; DefaultPair.Name() != want {
		t.Errorf("DefaultPair is %s, want %s (AVX2 %v)", DefaultPair.Name(), want, cpu.X86.HasAVX2)
	}
}

func TestDefaultIsAVX2(t *testing.T) {
	t.Parallel()
	_, avx2 := Default.(AVX2)
	if avx2 != cpu.X86.HasAVX2 {
		t.Errorf("Default is %T, CPU has AVX2: %v", Default, cpu.X86.HasAVX2)
	}
}

// TestAVX2TopKMatchesPortable runs the AVX2 TopK and Portable's over the
// pair tests' inputs, cut into query ranges, bit for bit.
func TestAVX2TopKMatchesPortable(t *testing.T) {
	t.Parallel()
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	for ti, tt := range pairInputs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all, skip := tt.in.build(uint64(200 + ti))
			n, k, top := tt.in.n, tt.in.k, tt.top
			want := make([]Neighbor, n*top)
			if err := (Portable{}).TopK(t.Context(), all, k, skip, 0, n, top, want); err != nil {
				t.Fatalf("Portable: %v", err)
			}
			for _, size := range []int{1, 5, 6, 7, 64, n} {
				got := make([]Neighbor, n*top)
				for q0 := 0; q0 < n; q0 += size {
					q1 := min(q0+size, n)
					if err := (AVX2{}).TopK(t.Context(), all, k, skip, q0, q1, top, got[q0*top:q1*top]); err != nil {
						t.Fatalf("AVX2 [%d,%d): %v", q0, q1, err)
					}
				}
				sameLists(t, "queries of "+itoa(size), got, want, top)
			}
		})
	}
}
