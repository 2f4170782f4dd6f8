package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
)

// ProbeWorkflowID is the fixed id of the probe: running it again while one runs reuses it.
const ProbeWorkflowID = "youworker-probe"

// Probe checks the whole path an agent turn takes, from the Temporal frontend through a worker
// of this task queue to Postgres, and returns what the worker saw. Operators run it with
// `temporal workflow execute --type Probe --task-queue youworker --workflow-id youworker-probe`.
func Probe(ctx workflow.Context) (spec.ProbeResult, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 10 * time.Second})
	var r spec.ProbeResult
	err := workflow.ExecuteLocalActivity(ctx, spec.Probe).Get(ctx, &r)
	return r, err
}
