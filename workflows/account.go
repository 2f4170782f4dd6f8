package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
)

// DeleteAccountID is the workflow id of the deletion of an account (one at a time: a second
// request joins the first).
func DeleteAccountID(userID string) string { return "delete-account/" + userID }

// DeleteAccountInput names the account to delete.
type DeleteAccountInput = spec.AccountInput

// DeleteAccountResult is what a deletion did.
type DeleteAccountResult struct {
	TurnsCancelled int `json:"turns_cancelled"`
	Documents      int `json:"documents"`
}

// DeleteAccount deletes an account durably: lock it out, cancel its running turns, delete its
// data (runs stopped, vectors, document bytes, rows), record it in the audit log. Every step is
// an idempotent activity retried until it succeeds (a Postgres or Qdrant outage delays the
// deletion, never half-does it); the memo shows the step in the Temporal UI.
func DeleteAccount(ctx workflow.Context, in DeleteAccountInput) (DeleteAccountResult, error) {
	var res DeleteAccountResult
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, // stopping each ingestion run may take 30 s
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	step := func(name string) { _ = workflow.UpsertMemo(ctx, map[string]any{"step": name}) }
	step("lock")
	if err := workflow.ExecuteActivity(ctx, spec.LockAccount, in).Get(ctx, nil); err != nil {
		return res, err
	}
	step("cancel turns")
	if err := workflow.ExecuteActivity(ctx, spec.CancelAccountTurns, in).Get(ctx, &res.TurnsCancelled); err != nil {
		return res, err
	}
	step("delete data")
	if err := workflow.ExecuteActivity(ctx, spec.DeleteAccountData, in).Get(ctx, &res.Documents); err != nil {
		return res, err
	}
	step("audit")
	if err := workflow.ExecuteActivity(ctx, spec.AuditAccountDeletion, in, res.Documents).Get(ctx, nil); err != nil {
		return res, err
	}
	step("done")
	return res, nil
}
