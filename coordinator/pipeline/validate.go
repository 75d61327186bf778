package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/betterread/pipeline/shared/dataset"
	"github.com/betterread/pipeline/shared/store"
)

// MinInputBytes is the seed's minimum size of each input file.
const MinInputBytes = 100

// ValidateResult has the fields of the seed's validate Lambda.
type ValidateResult struct {
	Valid         bool             `json:"valid"`
	Waiting       bool             `json:"waiting,omitempty"` // one file present, the other not yet uploaded
	MissingFiles  []string         `json:"missing_files"`
	ExistingFiles []string         `json:"existing_files"`
	FileSizes     map[string]int64 `json:"file_sizes"`
	Message       string           `json:"message"`
}

// Validate checks that both inputs exist, are at least MinInputBytes long
// and start with the expected header. One file alone is "waiting", not a
// failure.
func Validate(ctx context.Context, books, ratings string) ValidateResult {
	res := ValidateResult{MissingFiles: []string{}, ExistingFiles: []string{}, FileSizes: map[string]int64{}}
	type input struct {
		name, url string
		kind      dataset.Kind
	}
	var problems []string
	for _, in := range []input{{"Books.csv", books, dataset.KindBooks}, {"Ratings.csv", ratings, dataset.KindRatings}} {
		size, err := store.StatURL(ctx, in.url)
		if errors.Is(err, store.ErrNotFound) {
			res.MissingFiles = append(res.MissingFiles, in.name)
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", in.name, err))
			continue
		}
		res.ExistingFiles = append(res.ExistingFiles, in.name)
		res.FileSizes[in.name] = size
		if size < MinInputBytes {
			problems = append(problems, fmt.Sprintf("%s is %d bytes, under the minimum of %d", in.name, size, MinInputBytes))
			continue
		}
		if err := checkHeader(ctx, in.url, in.name, in.kind); err != nil {
			problems = append(problems, err.Error())
		}
	}
	switch {
	case len(problems) > 0:
		res.Message = "invalid input: " + strings.Join(problems, "; ")
	case len(res.MissingFiles) == 2:
		res.Message = "no input files found"
	case len(res.MissingFiles) == 1:
		res.Waiting = true
		res.Message = "waiting for " + res.MissingFiles[0]
	default:
		res.Valid = true
		res.Message = "both files present and valid"
	}
	return res
}

func checkHeader(ctx context.Context, url, name string, kind dataset.Kind) error {
	rc, _, err := store.OpenURL(ctx, url)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer rc.Close()
	_, err = dataset.CheckHeader(rc, name, kind)
	return err
}
