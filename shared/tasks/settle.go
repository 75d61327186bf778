package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// TypeSettle asks the coordinator to look at a watched upload location
// once its uploads have settled: if Books.csv and Ratings.csv are both
// there and valid, it starts the run their versions define. Upload events
// only schedule it; while one is scheduled, further events of the same
// location are absorbed (same task id), so the two uploads of a pair and
// duplicate deliveries come to one look.
const TypeSettle = "pipeline:settle"

// Settle names the watched location: a bucket and a key prefix ("" or a
// path without leading or trailing slash).
type Settle struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
}

func (p Settle) validate() error {
	var errs []error
	if p.Bucket == "" || strings.ContainsAny(p.Bucket, "/ ") {
		errs = append(errs, fmt.Errorf("bucket %q", p.Bucket))
	}
	if strings.HasPrefix(p.Prefix, "/") || strings.HasSuffix(p.Prefix, "/") {
		errs = append(errs, fmt.Errorf("prefix %q has a leading or trailing slash", p.Prefix))
	}
	return errors.Join(errs...)
}

// ID is the task id: one pending look per location.
func (p Settle) ID() string {
	h := sha256.Sum256([]byte(p.Bucket + "\x00" + p.Prefix))
	return "settle:" + hex.EncodeToString(h[:8])
}

// NewSettle builds the task, to run after delay (the debounce window). It
// keeps no completed record, so the next upload can schedule a new look.
func NewSettle(p Settle, delay time.Duration) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeSettle, p.ID(), p, asynq.Queue(QueueHooks), asynq.MaxRetry(10),
		asynq.Timeout(5*time.Minute), asynq.ProcessIn(delay), asynq.Retention(0))
}

// ParseSettle decodes a pipeline:settle payload.
func ParseSettle(data []byte) (Settle, error) {
	var p Settle
	err := decode(TypeSettle, data, &p)
	return p, err
}
