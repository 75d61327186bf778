// Package similarity finds, for each book, the books whose factor vectors
// point the same way: the cosine top-k over the rows of a factor matrix.
//
// Factors are []float32 row-major, n rows × k columns. [Normalize] scales
// every row to unit L2 length (the norm is taken in float64) and reports the
// rows that have no direction — all zero, or holding NaN/±Inf — which it
// leaves all zero. After that the cosine of two rows is their dot product,
// and a kernel ([TopK], [Kernel]) keeps, for each query row i, the top rows j
// by that score:
//
//   - j != i: a row is never its own neighbour;
//   - rows marked in skip (the zero rows from Normalize) neither get nor give
//     neighbours: their output rows are all padding;
//   - order is score descending, ties broken by the lower index;
//   - a row with fewer than top candidates is padded with Index -1, Score 0;
//   - no score is ever NaN.
//
// The score is defined bit for bit so that every kernel, every block split
// and every worker count gives identical neighbours: with
// p_d = float32(a_d·b_d), score = (…((p_0 + p_1) + p_2) + …) + p_{k-1}, each
// addition rounded to float32 and never fused with the multiplication.
// A SIMD kernel reproduces it by vectorising across rows, not across d.
//
//	factors (n×k) ──Normalize──▶ unit rows + zero[]
//	                                  │
//	        queries [qStart,qEnd) ────┼──▶ Kernel.TopK ──▶ out[(qEnd-qStart)·top]
//	        candidates: all rows ─────┘
//
// Cost: the full job is n²·k multiply-adds (2·n²·k flops); a call over a
// block of q query rows costs q·n·k of them. The portable kernel walks
// queries in tiles of four against cache-sized chunks of candidates so that
// every candidate row loaded serves several queries, and a running threshold
// per query keeps insertion into the sorted top list rare.
//
// A [PairKernel] halves that: it scores each pair of rows once and feeds
// both rows' lists, so the job splits into block pairs I ≤ J whose partial
// lists [Merge] combines per block, exactly (ties by lower index), into
// what [TopK] gives:
//
//	block pair (I, J) ──Pair──▶ lists of I, lists of J ─┐
//	block pair (I, I) ──Pair──▶ lists of I ─────────────┼─Merge per block──▶ top lists
//
// On amd64 with AVX2 (and without the purego tag), [DefaultPair] and
// [Default] are assembly kernels (pair_amd64.s): a 6×16 tile of scores in
// registers, products and sums as above (VMULPS then VADDPS, no FMA),
// checked against each row's and each column's current worst score so that
// only tiles that can change a list reach Go. Each list keeps costing about
// top·(1+ln(m/top)) inserts for m candidates, so a list that accumulates
// over many block pairs (or a larger block) costs less per pair than a
// fresh one per block pair.
package similarity
