package tasks

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypePipelineRun carries one whole run: the coordinator that takes it
// executes the stages, enqueueing block tasks and waiting on barriers. The
// task id is the run id, so a run is enqueued at most once, and a crashed
// coordinator's run is delivered again to the next one.
const TypePipelineRun = "pipeline:run"

// PipelineRun names the run; its plan is in the block store (runstore.PlanDoc).
type PipelineRun struct {
	Run string `json:"run"`
	// Trigger is what started the run: TriggerCLI or TriggerUpload.
	Trigger string `json:"trigger,omitempty"`
}

// Triggers of a run, recorded in its attempts.
const (
	TriggerCLI    = "cli"
	TriggerUpload = "upload"
)

func (p PipelineRun) validate() error {
	if p.Trigger != "" && p.Trigger != TriggerCLI && p.Trigger != TriggerUpload {
		return fmt.Errorf("run %s: unknown trigger %q", p.Run, p.Trigger)
	}
	return CheckRun(p.Run)
}

// PipelineRunTimeout bounds one delivery of a run.
const PipelineRunTimeout = 12 * time.Hour

// NewPipelineRun builds the task for run, started by trigger.
func NewPipelineRun(run, trigger string) (*asynq.Task, error) {
	p := PipelineRun{Run: run, Trigger: trigger}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return newTask(TypePipelineRun, "run:"+run, p, asynq.Queue(QueuePipeline), asynq.MaxRetry(3), asynq.Timeout(PipelineRunTimeout))
}

// ParsePipelineRun decodes a pipeline:run payload.
func ParsePipelineRun(data []byte) (PipelineRun, error) {
	var p PipelineRun
	err := decode(TypePipelineRun, data, &p)
	return p, err
}
