// Package account holds the account processes that outgrew a request: deleting an account is
// the DeleteAccount workflow, whose steps (lock the account out, cancel its turns, delete its
// data) live here and run as activities.
package account

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

// Deleter runs the steps of deleting an account. Each is idempotent: the workflow retries a
// step until it succeeds, and a retry finds whatever an earlier attempt left.
type Deleter struct {
	Store    *store.Store
	Intake   *intake.Service
	Temporal client.Client
	Log      *slog.Logger
}

// Lock locks the account out at once: no login, no token, no API key works any more.
func (d *Deleter) Lock(ctx context.Context, userID uuid.UUID) error {
	return d.Store.DisableUser(ctx, userID, time.Now().UTC())
}

// CancelTurns asks the account's running turns to stop and returns how many it asked.
func (d *Deleter) CancelTurns(ctx context.Context, userID uuid.UUID) (int, error) {
	turns, err := d.Store.ActiveTurns(ctx, userID)
	if err != nil {
		return 0, err
	}
	for i := range turns {
		err := workflows.Signal(ctx, d.Temporal, turns[i].WorkflowID, workflows.SignalCancel, workflows.CancelSignal{Reason: "account deleted"})
		if err != nil && !errors.Is(err, workflows.ErrEnded) {
			return 0, err
		}
	}
	return len(turns), nil
}

// DeleteData removes everything the account owns: its ingestion runs are stopped, its vectors,
// document bytes and rows deleted, then the user row with what cascades from it (sessions,
// messages, keys, memberships; a group it alone administered passes to its oldest member or
// goes). It returns how many documents the account had.
func (d *Deleter) DeleteData(ctx context.Context, userID uuid.UUID) (int, error) {
	return d.Intake.DeleteOwner(ctx, userID, func(ctx context.Context) error {
		return d.Store.DeleteAccount(ctx, userID)
	})
}

// Audit records that the account is gone.
func (d *Deleter) Audit(ctx context.Context, userID uuid.UUID, username string, documents int) error {
	return d.Store.Audit(ctx, &models.AuditEntry{Action: "account.deleted", ResourceType: "user", ResourceID: userID.String(),
		Details: map[string]any{"username": username, "documents": documents}, Outcome: "success"})
}

// Closer starts the deletion of an account on behalf of its owner: the DeleteAccount workflow,
// and the lock-out at once rather than when the workflow gets to it.
type Closer struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
	Now       func() time.Time
	Log       *slog.Logger
}

// Close starts deleting caller's account and returns the workflow to follow. Starting again while
// a deletion runs finds that one. The account is locked out before Close returns when Postgres
// allows; otherwise the workflow's first step does it.
func (c *Closer) Close(ctx context.Context, caller models.Caller) (workflowID string, err error) {
	id := workflows.DeleteAccountID(caller.UserID.String())
	// No memo: the workflow id names the account; its username stays out of what the Temporal UI
	// lists (the input still carries it, for the audit entry, until the namespace's retention).
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: c.TaskQueue}
	in := workflows.DeleteAccountInput{UserID: caller.UserID, Username: caller.Username}
	if err := workflows.Start(ctx, c.Temporal, opts, workflows.DeleteAccount, in); err != nil {
		return "", err
	}
	if err := c.Store.DisableUser(ctx, caller.UserID, c.Now()); err != nil {
		c.Log.WarnContext(ctx, "locking a deleted account out failed; its workflow does it", "user_id", caller.UserID, "error", err)
	}
	return id, nil
}
