//go:build !purego

#include "textflag.h"

// pairScan: see pair_amd64.go. Registers:
//   CX k, SI the 6 rows (k×6 floats), DI the current panel (k×16 floats),
//   R8 np, R9 rthr (6 floats), R10 the current panel's cthr (16 floats),
//   R11 the hit tile, R13 the panel index, AX/BX scratch.
//   Y4..Y15 the 6×16 tile: row r in Y(4+2r) (columns 0-7) and Y(5+2r)
//   (columns 8-15). Y0/Y1 the panel's column vectors, Y2 the broadcast row
//   value, Y3 the product.
//
// Every score is p_0 + p_1 + ... + p_{k-1} in that order, with each product
// rounded (VMULPS) before it is added (VADDPS): never an FMA. The first
// product initialises the accumulator (not 0 + p_0, which turns -0 into +0).
//
// Thresholds are compared with VCMPPS predicate 0x15, NLT_UQ: !(s < t), so a
// score equal to a list's worst passes (it may still enter by a lower index)
// and so does a NaN (Go drops it); only Go decides what enters.

// FIRST(off, lo, hi): row at off, dimension 0.
#define FIRST(off, lo, hi) \
	VBROADCASTSS off(AX), Y2; \
	VMULPS       Y0, Y2, lo; \
	VMULPS       Y1, Y2, hi

// NEXT(off, lo, hi): row at off, a later dimension.
#define NEXT(off, lo, hi) \
	VBROADCASTSS off(AX), Y2; \
	VMULPS       Y0, Y2, Y3; \
	VADDPS       Y3, lo, lo; \
	VMULPS       Y1, Y2, Y3; \
	VADDPS       Y3, hi, hi

// ROWTEST(roff, lo, hi): Y0 |= max(row) !< rthr[row]. The running value is
// VMAXPS's first Go operand (the one returned when either is NaN) so that a
// NaN score can only make a false hit, never hide a real one.
#define ROWTEST(roff, lo, hi) \
	VMAXPS       lo, hi, Y1; \
	VBROADCASTSS roff(R9), Y2; \
	VCMPPS       $0x15, Y2, Y1, Y1; \
	VORPS        Y1, Y0, Y0

// MASK(roff, moff, lo, hi): the masks of row r's scores s (accumulators
// lo, hi) with s !< rthr[r] (bits 0-15, one per column) and with
// s !< cthr[column] (bits 16-31), stored as a uint32 at moff(R11). Y1/Y2
// hold cthr; clobbers Y0, Y3, AX and BX.
#define MASK(roff, moff, lo, hi) \
	VBROADCASTSS roff(R9), Y0; \
	VCMPPS       $0x15, Y0, lo, Y3; \
	VMOVMSKPS    Y3, AX; \
	VCMPPS       $0x15, Y0, hi, Y3; \
	VMOVMSKPS    Y3, BX; \
	SHLL         $8, BX; \
	ORL          BX, AX; \
	VCMPPS       $0x15, Y1, lo, Y3; \
	VMOVMSKPS    Y3, BX; \
	SHLL         $16, BX; \
	ORL          BX, AX; \
	VCMPPS       $0x15, Y2, hi, Y3; \
	VMOVMSKPS    Y3, BX; \
	SHLL         $24, BX; \
	ORL          BX, AX; \
	MOVL         AX, moff(R11)

// func pairScan(k int, a *float32, bp *float32, np int, rthr *float32, cthr *float32, hit *tile) int
TEXT ·pairScan(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ bp+16(FP), DI
	MOVQ np+24(FP), R8
	MOVQ rthr+32(FP), R9
	MOVQ cthr+40(FP), R10
	XORQ R13, R13
	TESTQ R8, R8
	JLE  none

panel:
	MOVQ    SI, AX
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	FIRST(0, Y4, Y5)
	FIRST(4, Y6, Y7)
	FIRST(8, Y8, Y9)
	FIRST(12, Y10, Y11)
	FIRST(16, Y12, Y13)
	FIRST(20, Y14, Y15)
	ADDQ    $64, DI
	ADDQ    $24, AX
	LEAQ    -1(CX), BX
	TESTQ   BX, BX
	JZ      test

dim:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	NEXT(0, Y4, Y5)
	NEXT(4, Y6, Y7)
	NEXT(8, Y8, Y9)
	NEXT(12, Y10, Y11)
	NEXT(16, Y12, Y13)
	NEXT(20, Y14, Y15)
	ADDQ    $64, DI
	ADDQ    $24, AX
	DECQ    BX
	JNZ     dim

test:
	// Column maxima over the six rows against cthr.
	VMAXPS Y4, Y6, Y0
	VMAXPS Y0, Y8, Y0
	VMAXPS Y0, Y10, Y0
	VMAXPS Y0, Y12, Y0
	VMAXPS Y0, Y14, Y0
	VMAXPS Y5, Y7, Y1
	VMAXPS Y1, Y9, Y1
	VMAXPS Y1, Y11, Y1
	VMAXPS Y1, Y13, Y1
	VMAXPS Y1, Y15, Y1
	VCMPPS $0x15, (R10), Y0, Y0
	VCMPPS $0x15, 32(R10), Y1, Y1
	VORPS  Y1, Y0, Y0

	// Row maxima against rthr.
	ROWTEST(0, Y4, Y5)
	ROWTEST(4, Y6, Y7)
	ROWTEST(8, Y8, Y9)
	ROWTEST(12, Y10, Y11)
	ROWTEST(16, Y12, Y13)
	ROWTEST(20, Y14, Y15)
	VMOVMSKPS Y0, BX
	TESTL     BX, BX
	JNZ       found

	ADDQ $64, R10
	INCQ R13
	CMPQ R13, R8
	JLT  panel

none:
	MOVQ R13, ret+56(FP)
	VZEROUPPER
	RET

found:
	MOVQ    hit+48(FP), R11
	VMOVUPS Y4, 0(R11)
	VMOVUPS Y5, 32(R11)
	VMOVUPS Y6, 64(R11)
	VMOVUPS Y7, 96(R11)
	VMOVUPS Y8, 128(R11)
	VMOVUPS Y9, 160(R11)
	VMOVUPS Y10, 192(R11)
	VMOVUPS Y11, 224(R11)
	VMOVUPS Y12, 256(R11)
	VMOVUPS Y13, 288(R11)
	VMOVUPS Y14, 320(R11)
	VMOVUPS Y15, 352(R11)
	VMOVUPS (R10), Y1
	VMOVUPS 32(R10), Y2
	MASK(0, 384, Y4, Y5)
	MASK(4, 388, Y6, Y7)
	MASK(8, 392, Y8, Y9)
	MASK(12, 396, Y10, Y11)
	MASK(16, 400, Y12, Y13)
	MASK(20, 404, Y14, Y15)
	MOVQ    R13, ret+56(FP)
	VZEROUPPER
	RET
