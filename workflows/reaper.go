package workflows

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
)

// ReapTurns is one run of the turn reaper, started by the reaper schedule (ReaperScheduleID)
// every TURN_REAPER_INTERVAL: it fails the turns whose workflow is gone (a crash between storing
// a turn and starting its workflow, a workflow that ended without recording its outcome), so that
// no session stays blocked by a turn nothing will finish. Each run is visible in the Temporal UI.
func ReapTurns(ctx workflow.Context) (spec.ReapResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	var res spec.ReapResult
	err := workflow.ExecuteActivity(ctx, spec.ReapLostTurns).Get(ctx, &res)
	return res, err
}

// ReaperScheduleID is the id of the schedule running ReapTurns for a task queue.
func ReaperScheduleID(taskQueue string) string { return "youworker-reaper/" + taskQueue }

// EnsureReaperSchedule creates the schedule that runs ReapTurns on taskQueue every interval, or
// updates it to that interval. Runs never overlap: a run still going when the next is due makes
// that one skip. Every worker calls it at start; whichever comes first creates the schedule.
func EnsureReaperSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	id := ReaperScheduleID(taskQueue)
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{ID: "youworker-reaper-run/" + taskQueue, Workflow: ReapTurns, TaskQueue: taskQueue,
		WorkflowExecutionTimeout: 10 * time.Minute}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: id, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: "fails chat turns whose workflow is gone (YouWorker)"})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return err
	}
	return c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
}
