//go:build purego || !amd64

package similarity

// defaultPair is the portable kernel where there is no assembly kernel.
func defaultPair() PairKernel { return PortablePair{} }

// defaultKernel is the portable kernel where there is no assembly kernel.
func defaultKernel() Kernel { return Portable{} }
