package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// CodeTurnLost is the error code of a turn the reaper failed: its workflow ended without
// recording the turn's outcome, or never started.
const CodeTurnLost = "TURN_LOST"

// Lost is the outcome the reaper gives a turn whose workflow is gone.
var Lost = models.TurnOutcome{Status: models.TurnFailed, ErrorCode: CodeTurnLost,
	ErrorMessage: "the turn stopped without an answer (its workflow ended or never started); your message is kept, please send it again"}

// Cancelled is the outcome of a turn cancelled by its user after its workflow was gone.
var Cancelled = models.TurnOutcome{Status: models.TurnCancelled}

// Reaper finishes turns whose workflow is gone, so that no session stays blocked by a turn that
// nothing will ever finish (a crash between storing a turn and starting its workflow, a workflow
// that ended while Postgres was unreachable, a terminated run). A turn whose workflow runs is
// never touched: its workflow finishes it.
type Reaper struct {
	Store    *store.Store
	Box      *encryption.Box
	Temporal client.Client
	// Grace is how old a turn must be before a missing workflow counts as gone: the API stores a
	// turn, then starts its workflow.
	Grace  time.Duration
	Logger *slog.Logger
	// Finished, when set, is told the status of every turn this reaper finishes (End, and so
	// Finish and Sweep): the worker and the API count them in youworker_turns_total, since no
	// workflow will.
	Finished func(status string)
}

// ErrWorkflowRunning is returned by Finish when the turn's workflow still runs (or may still be
// starting): its workflow decides how it ends.
var ErrWorkflowRunning = errors.New("chat: the turn's workflow is running")

// Finish ends the unfinished turn t with outcome o if its workflow is gone, appending the terminal
// event. It reports whether it finished the turn (false: the turn had finished already), and
// ErrWorkflowRunning when the workflow runs. Temporal being unreachable is an error: nothing is
// decided without knowing.
func (r *Reaper) Finish(ctx context.Context, t *models.Turn, o models.TurnOutcome) (bool, error) {
	if t.Finished() {
		return false, nil
	}
	gone, err := r.workflowGone(ctx, t)
	if err != nil {
		return false, err
	}
	if !gone {
		return false, ErrWorkflowRunning
	}
	finished, err := r.End(ctx, t.ID, o)
	if finished {
		r.logger().WarnContext(ctx, "turn finished without its workflow", "turn_id", t.ID, "workflow_id", t.WorkflowID,
			"status", o.Status, "error_code", o.ErrorCode, "started_at", t.StartedAt)
	}
	return finished, err
}

// End finishes turn id with o and its terminal event, whatever its workflow does: for a turn whose
// workflow is known not to run (it could not be started). It reports whether it finished the turn.
func (r *Reaper) End(ctx context.Context, id uuid.UUID, o models.TurnOutcome) (bool, error) {
	typ, data := models.Terminal(id, o)
	b, err := json.Marshal(data)
	if err != nil {
		return false, err
	}
	sealed, err := r.Box.Encrypt(store.TurnLog.EventData(id, models.TerminalKey), b)
	if err != nil {
		return false, err
	}
	finished, err := r.Store.FinishTurn(ctx, id, o, time.Now().UTC(), []models.Event{{Key: models.TerminalKey, Type: typ, Data: sealed}})
	if finished && r.Finished != nil {
		r.Finished(o.Status)
	}
	return finished, err
}

// Sweep fails, with Lost, every unfinished turn older than Grace whose workflow is gone, up to
// limit of them (oldest first), calling visited after each turn it looked at. It returns how many
// it failed; a turn it cannot decide (Temporal unreachable) is left for the next sweep.
func (r *Reaper) Sweep(ctx context.Context, limit int, visited func()) (int, error) {
	turns, err := r.Store.UnfinishedTurns(ctx, time.Now().Add(-r.Grace), limit)
	if err != nil {
		return 0, err
	}
	reaped := 0
	var errs []error
	for i := range turns {
		finished, err := r.Finish(ctx, &turns[i], Lost)
		switch {
		case finished:
			reaped++
		case err != nil && !errors.Is(err, ErrWorkflowRunning):
			errs = append(errs, fmt.Errorf("turn %s: %w", turns[i].ID, err))
		}
		if visited != nil {
			visited()
		}
	}
	return reaped, errors.Join(errs...)
}

// workflowGone reports whether t's workflow has ended, or does not exist and t is older than Grace.
func (r *Reaper) workflowGone(ctx context.Context, t *models.Turn) (bool, error) {
	desc, err := r.Temporal.DescribeWorkflowExecution(ctx, t.WorkflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return time.Since(t.StartedAt) >= r.Grace, nil
	case err != nil:
		return false, models.TemporalUnavailable(err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

func (r *Reaper) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}
