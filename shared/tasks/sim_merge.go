package tasks

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// TypeSimMerge merges the partial top lists the sim:pair tasks wrote for
// one block of catalogue books into its final top-k block.
const TypeSimMerge = "sim:merge"

// SimMerge names the catalogue block.
type SimMerge struct {
	Run string `json:"run"`
	// Gen is the generation of the run's plan the task belongs to (see
	// Plan.Gen).
	Gen   string `json:"gen,omitempty"`
	Block int    `json:"block"`
}

func (p SimMerge) validate() error {
	var errs []error
	errs = append(errs, CheckRun(p.Run))
	if p.Block < 0 {
		errs = append(errs, fmt.Errorf("negative block %d", p.Block))
	}
	return errors.Join(errs...)
}

// ID is the deterministic task id.
func (p SimMerge) ID() string { return fmt.Sprintf("%s:sim:%05d", p.Run, p.Block) }

// NewSimMerge builds the task.
func NewSimMerge(p SimMerge) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeSimMerge, p.ID(), p, asynq.Queue(QueueBlocks), asynq.MaxRetry(BlockMaxRetry), asynq.Timeout(BlockTaskTimeout))
}

// ParseSimMerge decodes a sim:merge payload.
func ParseSimMerge(data []byte) (SimMerge, error) {
	var p SimMerge
	err := decode(TypeSimMerge, data, &p)
	return p, err
}
