package als

// SquaredError sums (r − u·v)² over the ratings in rows, where row r of rows
// is row r of rowFactors (u) and each Col is a row of colFactors (v), both
// with k columns. The dot product is taken in float64. A rating whose u or v
// is all zero, or lies outside the factor matrices, has "no factors" and is
// counted in skipped instead (Spark's coldStartStrategy=drop), so
// RMSE = √(sum/n). Malformed row ranges are clamped to Col and Val rather
// than trusted; blocks are validated when decoded.
func SquaredError(rowFactors, colFactors []float32, k int, rows Rows) (sum float64, n, skipped int) {
	if k < 1 {
		return 0, 0, 0
	}
	nRowF, nColF := len(rowFactors)/k, len(colFactors)/k
	limit := min(len(rows.Col), len(rows.Val))
	clamp := func(p int32) int { return max(0, min(int(p), limit)) }
	for r := range rows.Len() {
		lo, hi := clamp(rows.RowPtr[r]), clamp(rows.RowPtr[r+1])
		if hi <= lo {
			continue
		}
		if r >= nRowF || isZero(rowFactors[r*k:r*k+k]) {
			skipped += hi - lo
			continue
		}
		u := rowFactors[r*k : r*k+k]
		for i := lo; i < hi; i++ {
			c := int(rows.Col[i])
			if c < 0 || c >= nColF {
				skipped++
				continue
			}
			v := colFactors[c*k : c*k+k]
			var dot float64
			nonzero := false
			for j, vj := range v {
				nonzero = nonzero || vj != 0
				dot += float64(float64(u[j]) * float64(vj))
			}
			if !nonzero {
				skipped++
				continue
			}
			e := float64(rows.Val[i]) - dot
			sum += float64(e * e)
			n++
		}
	}
	return sum, n, skipped
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
