package tasks

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeALSSolve solves one block of one side for one half-iteration.
const TypeALSSolve = "als:solve"

// ALSSolve names the block: at Iteration i (1-based), Side "items" solves
// against the users of iteration i-1 (iteration 0 is the seeded init), and
// Side "users" solves against the items of iteration i.
type ALSSolve struct {
	Run string `json:"run"`
	// Gen is the generation of the run\'s plan the task belongs to (see
	// Plan.Gen).
	Gen       string `json:"gen,omitempty"`
	Iteration int    `json:"iteration"`
	Side      string `json:"side"`
	Block     int    `json:"block"`
}

func (p ALSSolve) validate() error {
	var errs []error
	errs = append(errs, CheckRun(p.Run))
	if p.Iteration < 1 || p.Iteration > 10000 {
		errs = append(errs, fmt.Errorf("iteration %d outside 1..10000", p.Iteration))
	}
	if p.Side != "users" && p.Side != "items" {
		errs = append(errs, fmt.Errorf("side %q is neither users nor items", p.Side))
	}
	if p.Block < 0 {
		errs = append(errs, fmt.Errorf("negative block %d", p.Block))
	}
	return errors.Join(errs...)
}

// Phase names the barrier the task belongs to, one per half-iteration
// ("train:003:items"): the coordinator's report and the workers' phase
// spans and per-worker fetch counters use it.
func (p ALSSolve) Phase() string { return fmt.Sprintf("train:%03d:%s", p.Iteration, p.Side) }

// Phases of the stages after training: one barrier each.
const (
	PhaseSimilarity = "similarity"
	PhaseMerge      = "similarity:merge"
	PhaseLoad       = "load"
)

// ID is the deterministic task id.
func (p ALSSolve) ID() string {
	return fmt.Sprintf("%s:als:%03d:%s:%05d", p.Run, p.Iteration, p.Side, p.Block)
}

// BlockTaskTimeout bounds one delivery of a block task; blocks are sized to
// take seconds.
const BlockTaskTimeout = 30 * time.Minute

// BlockMaxRetry is how often a failing block task is retried before it is
// archived and the run fails.
const BlockMaxRetry = 5

// NewALSSolve builds the task.
func NewALSSolve(p ALSSolve) (*asynq.Task, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypeALSSolve, p.ID(), p, asynq.Queue(QueueBlocks), asynq.MaxRetry(BlockMaxRetry), asynq.Timeout(BlockTaskTimeout))
}

// ParseALSSolve decodes an als:solve payload.
func ParseALSSolve(data []byte) (ALSSolve, error) {
	var p ALSSolve
	err := decode(TypeALSSolve, data, &p)
	return p, err
}
