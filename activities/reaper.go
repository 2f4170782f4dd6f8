package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	"github.com/youworker/youworker/activities/spec"
)

// sweeper fails the unfinished turns whose workflow is gone (chat.Reaper).
type sweeper interface {
	Sweep(ctx context.Context, batch int, beat func()) (int, error)
}

// Reaper runs the chat reaper for the ReapTurns workflow.
type Reaper struct {
	Chat  sweeper
	Batch int // turns looked at per run
}

type ReapResult = spec.ReapResult

// ReapLostTurns fails the unfinished turns whose workflow is gone (chat.Reaper.Sweep),
// heartbeating after each turn it looks at.
func (a *Reaper) ReapLostTurns(ctx context.Context) (ReapResult, error) {
	n, err := a.Chat.Sweep(ctx, a.Batch, func() { activity.RecordHeartbeat(ctx) })
	return ReapResult{Reaped: n}, err
}
