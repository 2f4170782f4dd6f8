package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/activities"
)

// DeleteAccount runs its steps in order (lock, cancel turns, delete data, audit) and retries a
// step that fails until it succeeds: an outage delays a deletion, never half-does it.
func TestDeleteAccountRetriesAStepUntilItIsDone(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Account
	var order []string
	in := DeleteAccountInput{UserID: uuid.New(), Username: "leaver"}
	env.OnActivity(a.LockAccount, mock.Anything, in).Return(func(_ context.Context, _ activities.AccountInput) error {
		order = append(order, "lock")
		return nil
	})
	env.OnActivity(a.CancelAccountTurns, mock.Anything, in).Return(func(_ context.Context, _ activities.AccountInput) (int, error) {
		order = append(order, "turns")
		return 2, nil
	})
	failures := 2
	env.OnActivity(a.DeleteAccountData, mock.Anything, in).Return(func(_ context.Context, _ activities.AccountInput) (int, error) {
		order = append(order, "data")
		if failures > 0 {
			failures--
			return 0, errors.New("qdrant unavailable")
		}
		return 3, nil
	})
	env.OnActivity(a.AuditAccountDeletion, mock.Anything, in, 3).Return(func(_ context.Context, _ activities.AccountInput, _ int) error {
		order = append(order, "audit")
		return nil
	})
	env.ExecuteWorkflow(DeleteAccount, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res DeleteAccountResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, DeleteAccountResult{TurnsCancelled: 2, Documents: 3}, res)
	require.Equal(t, []string{"lock", "turns", "data", "data", "data", "audit"}, order)
}
