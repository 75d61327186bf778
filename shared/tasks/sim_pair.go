package tasks

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// TypeSimPair scores every book of one group of catalogue blocks against
// every book of another (or the same) group, once per pair of books, and
// writes each book's best candidates from that pair as a partial top list.
const TypeSimPair = "sim:pair"

// SimPair names the pair of groups, I ≤ J (see Layout.Groups).
type SimPair struct {
	Run string `json:"run"`
	// Gen is the generation of the run's plan the task belongs to (see
	// Plan.Gen).
	Gen string `json:"gen,omitempty"`
	I   int    `json:"i"`
	J   int    `json:"j"`
}

func (p SimPair) validate() error {
	var errs []error
	errs = append(errs, CheckRun(p.Run))
	if p.I < 0 || p.J < p.I {
		errs = append(errs, fmt.Errorf("group pair (%d, %d): want 0 ≤ i ≤ j", p.I, p.J))
	}
	return errors.Join(errs...)
}

// ID is the deterministic task id.
func (p SimPair) ID() string { return fmt.Sprintf("%s:pair:%04d-%04d", p.Run, p.I, p.J) }

// NewSimPair builds the task.
func NewSimPair(p SimPair) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeSimPair, p.ID(), p, asynq.Queue(QueueBlocks), asynq.MaxRetry(BlockMaxRetry), asynq.Timeout(BlockTaskTimeout))
}

// ParseSimPair decodes a sim:pair payload.
func ParseSimPair(data []byte) (SimPair, error) {
	var p SimPair
	err := decode(TypeSimPair, data, &p)
	return p, err
}
