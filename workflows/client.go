package workflows

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/models"
)

// ErrEnded is returned by Signal when the workflow has already ended (or never existed).
var ErrEnded = errors.New("the workflow has ended")

// Start starts wf idempotently: the id is rejected once it ran to an end and attached to while it
// runs, so a retried request (or one repairing a crash between storing and starting) finds the
// same execution and succeeds. Any other failure is an ErrUnavailable error with models.CodeTemporalUnavailable.
func Start(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, wf, arg any) error {
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	_, err := c.ExecuteWorkflow(ctx, opts, wf, arg)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || errors.As(err, &already) {
		return nil
	}
	return unavailable(err)
}

// Signal sends a signal to the running workflow id: ErrEnded when it is no longer running, an
// ErrUnavailable error with models.CodeTemporalUnavailable when Temporal cannot be reached.
func Signal(ctx context.Context, c client.Client, id, name string, arg any) error {
	err := c.SignalWorkflow(ctx, id, "", name, arg)
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return ErrEnded
	}
	return unavailable(err)
}

func unavailable(err error) error {
	return models.TemporalUnavailable(err)
}
