//go:build purego || !amd64

package similarity

import "testing"

// platformPairKernels is empty: this build has only the portable kernel.
func platformPairKernels(testing.TB) []PairKernel { return nil }
