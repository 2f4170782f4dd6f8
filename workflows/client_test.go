package workflows

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func runID(t *testing.T, c client.Client, id string) string {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	return d.WorkflowExecutionInfo.Execution.RunId
}

// No worker polls the task queue: the execution stays open until the test terminates it.
func TestStartIsIdempotentWhileRunningAndAfterTheEnd(t *testing.T) {
	c, ctx := testenv.TemporalClient(t), context.Background()
	id := "client-test/" + uuid.NewString()
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: testenv.TaskQueue(t)}

	require.NoError(t, Start(ctx, c, opts, "NeverPolled", nil))
	first := runID(t, c, id)
	require.NoError(t, Start(ctx, c, opts, "NeverPolled", nil), "starting a running id again")
	require.Equal(t, first, runID(t, c, id), "the running execution is reused")

	require.NoError(t, Signal(ctx, c, id, "anything", nil))
	require.NoError(t, c.TerminateWorkflow(ctx, id, "", "test"))

	require.NoError(t, Start(ctx, c, opts, "NeverPolled", nil), "starting an ended id again")
	require.Equal(t, first, runID(t, c, id), "an ended id is not run a second time")
	require.ErrorIs(t, Signal(ctx, c, id, "anything", nil), ErrEnded)
	require.ErrorIs(t, Signal(ctx, c, "client-test/"+uuid.NewString(), "anything", nil), ErrEnded)
}

func TestUnreachableTemporalIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c, err := client.NewLazyClient(client.Options{HostPort: addr})
	require.NoError(t, err)
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for name, err := range map[string]error{
		"start":  Start(ctx, c, client.StartWorkflowOptions{ID: "x", TaskQueue: "q"}, "NeverPolled", nil),
		"signal": Signal(ctx, c, "x", "anything", nil),
	} {
		var me *models.Error
		require.True(t, errors.As(err, &me), "%s: %v", name, err)
		require.Equal(t, models.CodeTemporalUnavailable, me.Code, name)
		require.ErrorIs(t, err, models.ErrUnavailable, name)
	}
}
