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
