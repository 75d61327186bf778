package handlers

import (
	"io"
	"slices"

	"github.com/betterread/pipeline/shared/blocks"
)

// Handlers keep decoded blocks in their cache for the length of a run, so
// they hold Go-owned copies and release the Arrow buffers at once.

func decodeFactors(r io.Reader) (blocks.Factors, error) {
	v, err := blocks.DecodeFactors(r)
	if err != nil {
		return blocks.Factors{}, err
	}
	defer v.Release()
	f := v.Factors
	f.Data = slices.Clone(f.Data)
	return f, nil
}

func decodeRatings(r io.Reader) (blocks.Ratings, error) {
	v, err := blocks.DecodeRatings(r)
	if err != nil {
		return blocks.Ratings{}, err
	}
	defer v.Release()
	x := v.Ratings
	x.RowPtr, x.Col, x.Val = slices.Clone(x.RowPtr), slices.Clone(x.Col), slices.Clone(x.Val)
	return x, nil
}

// DecodeTopK decodes a top-k block into Go-owned slices.
func DecodeTopK(r io.Reader) (blocks.TopK, error) {
	v, err := blocks.DecodeTopK(r)
	if err != nil {
		return blocks.TopK{}, err
	}
	defer v.Release()
	t := v.TopK
	t.Index, t.Score = slices.Clone(t.Index), slices.Clone(t.Score)
	return t, nil
}
