package tasks

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// TypeLoadWrite writes the Books and BookSimilarities items of one block of
// catalogue books to the run's output target.
const TypeLoadWrite = "load:write"

// LoadWrite names the block; it is the same block numbering as sim:merge.
type LoadWrite struct {
	Run string `json:"run"`
	// Gen is the generation of the run\'s plan the task belongs to (see
	// Plan.Gen).
	Gen   string `json:"gen,omitempty"`
	Block int    `json:"block"`
}

func (p LoadWrite) validate() error {
	var errs []error
	errs = append(errs, CheckRun(p.Run))
	if p.Block < 0 {
		errs = append(errs, fmt.Errorf("negative block %d", p.Block))
	}
	return errors.Join(errs...)
}

// ID is the deterministic task id.
func (p LoadWrite) ID() string { return fmt.Sprintf("%s:load:%05d", p.Run, p.Block) }

// NewLoadWrite builds the task.
func NewLoadWrite(p LoadWrite) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeLoadWrite, p.ID(), p, asynq.Queue(QueueBlocks), asynq.MaxRetry(BlockMaxRetry), asynq.Timeout(BlockTaskTimeout))
}

// ParseLoadWrite decodes a load:write payload.
func ParseLoadWrite(data []byte) (LoadWrite, error) {
	var p LoadWrite
	err := decode(TypeLoadWrite, data, &p)
	return p, err
}
