package tasks

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// TypeSimTopK finds the top neighbours of one block of catalogue books
// against all catalogue books.
const TypeSimTopK = "sim:topk"

// SimTopK names the query block.
type SimTopK struct {
	Run string `json:"run"`
	// Gen is the generation of the run\'s plan the task belongs to (see
	// Plan.Gen).
	Gen   string `json:"gen,omitempty"`
	Block int    `json:"block"`
}

func (p SimTopK) validate() error {
	var errs []error
	errs = append(errs, CheckRun(p.Run))
	if p.Block < 0 {
		errs = append(errs, fmt.Errorf("negative block %d", p.Block))
	}
	return errors.Join(errs...)
}

// ID is the deterministic task id.
func (p SimTopK) ID() string { return fmt.Sprintf("%s:sim:%05d", p.Run, p.Block) }

// NewSimTopK builds the task.
func NewSimTopK(p SimTopK) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeSimTopK, p.ID(), p, asynq.Queue(QueueBlocks), asynq.MaxRetry(BlockMaxRetry), asynq.Timeout(BlockTaskTimeout))
}

// ParseSimTopK decodes a sim:topk payload.
func ParseSimTopK(data []byte) (SimTopK, error) {
	var p SimTopK
	err := decode(TypeSimTopK, data, &p)
	return p, err
}
