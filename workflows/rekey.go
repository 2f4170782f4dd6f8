package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
)

// RekeyWorkflowID is the id of the key rotation: one runs at a time.
const RekeyWorkflowID = "youworker-rekey"

// RekeyState is the rotation's progress; it is also the input of each continued run.
type RekeyState struct {
	Tables    []string `json:"tables"`
	Table     int      `json:"table"` // index into Tables
	After     []string `json:"after"` // cursor in the current table
	Scanned   int      `json:"scanned"`
	Rewritten int      `json:"rewritten"`
	Batch     int      `json:"batch_size"`
	Done      bool     `json:"done"`
}

// batchesPerRun bounds a run's history; the rotation continues as new after that many batches.
const batchesPerRun = 200

// RotateKeys re-encrypts every sealed value with the current key, table by table in batches. It
// is resumable (a cursor per table; re-encrypting is idempotent) and reports progress through the
// progress query and its memo, visible in the Temporal UI. The starter passes the tables
// (store.RekeyTables): a list computed in here would change under a run in flight when a deploy
// adds a sealed table.
func RotateKeys(ctx workflow.Context, st RekeyState) (RekeyState, error) {
	if len(st.Tables) == 0 {
		// A rotation started by a binary from before the starter passed the tables: the list
		// that binary computed, frozen, so its replay stays the same whatever store says now.
		st.Tables = []string{"messages", "chat_sessions", "tool_runs", "turn_events", "ingestion_events", "document_blobs"}
	}
	if st.Batch <= 0 {
		st.Batch = 500
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (RekeyState, error) { return st, nil }); err != nil {
		return st, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute, HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	for batches := 0; st.Table < len(st.Tables); batches++ {
		if batches == batchesPerRun {
			return st, workflow.NewContinueAsNewError(ctx, RotateKeys, st)
		}
		var res spec.RekeyResult
		in := spec.RekeyInput{Table: st.Tables[st.Table], After: st.After, Limit: st.Batch}
		if err := workflow.ExecuteActivity(ctx, spec.ReencryptBatch, in).Get(ctx, &res); err != nil {
			return st, err
		}
		st.Scanned += res.Scanned
		st.Rewritten += res.Rewritten
		st.After = res.Next
		if res.Next == nil {
			st.Table++
		}
		_ = workflow.UpsertMemo(ctx, map[string]any{"progress": map[string]any{
			"table": min(st.Table, len(st.Tables)-1), "tables": len(st.Tables), "scanned": st.Scanned, "rewritten": st.Rewritten}})
	}
	st.Done = true
	return st, nil
}
