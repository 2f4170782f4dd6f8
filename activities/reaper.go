package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/models"
)

// sweeper fails the unfinished turns whose workflow is gone (chat.Reaper).
type sweeper interface {
	Sweep(ctx context.Context, batch int, beat func()) (int, error)
}

// Reaper runs the chat reaper for the ReapTurns workflow.
type Reaper struct {
	Chat  sweeper
	Batch int // turns looked at per run
	// Metrics counts the turns it fails in youworker_turns_total (outcome failed; no duration,
	// the turn's end is not known). nil: none.
	Metrics *metrics.Worker
}

type ReapResult = spec.ReapResult

// ReapLostTurns fails the unfinished turns whose workflow is gone (chat.Reaper.Sweep),
// heartbeating after each turn it looks at.
func (a *Reaper) ReapLostTurns(ctx context.Context) (ReapResult, error) {
	n, err := a.Chat.Sweep(ctx, a.Batch, func() { activity.RecordHeartbeat(ctx) })
	for range n {
		a.Metrics.TurnFinished(models.TurnFailed, time.Time{})
	}
	return ReapResult{Reaped: n}, err
}
