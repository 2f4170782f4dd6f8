package devservices

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/types/known/durationpb"
)

func requireTemporalServer(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	require.NoError(t, err)
	bin := filepath.Join(root, "bin")
	if _, err := os.Stat(filepath.Join(bin, "temporal-server")); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("the Temporal server is not built (%s missing): run `make tools`", filepath.Join(bin, "temporal-server"))
	}
	return bin
}

// TestTemporalServerOnPostgres sets up the schema with the server's own tool, runs a workflow,
// and finds it again after the server is SIGKILLed and started on the same databases: the state
// is in Postgres, not in the process.
func TestTemporalServerOnPostgres(t *testing.T) {
	t.Parallel()
	bin := requireTemporalServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg, err := StartPostgres(ctx, PostgresOptions{DataDir: filepath.Join(dir, "pg"), Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })

	srv, err := StartTemporalServer(ctx, TemporalServerOptions{BinDir: bin, Postgres: pg, StateDir: filepath.Join(dir, "temporal"),
		DynamicConfig: ServerFastDispatch()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	require.NotZero(t, srv.PID())

	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Namespace: "yw-server-test", Logger: quietLogger})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "yw-server-test", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	require.NoError(t, err)

	// A workflow started before the crash, with no worker yet: only the database remembers it.
	var run client.WorkflowRun
	require.Eventually(t, func() bool { // the new namespace reaches the frontend's cache
		run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "steps-1", TaskQueue: "server-test"}, stepsWorkflow, 3)
		return err == nil
	}, time.Minute, 200*time.Millisecond, "start: %v", err)

	srv.Kill()
	require.Zero(t, srv.PID())
	require.NoError(t, srv.Start(ctx), "restart on the same databases and ports")

	w := worker.New(c, "server-test", worker.Options{})
	w.RegisterWorkflow(stepsWorkflow)
	w.RegisterActivity(bump)
	require.NoError(t, w.Start())
	defer w.Stop()
	var got int
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, 3, got)
	desc, err := c.DescribeWorkflowExecution(ctx, "steps-1", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())

	// The schema step is idempotent: a second set-up on the same databases changes nothing.
	require.NoError(t, SetupTemporalSchema(ctx, bin, pg, slog.New(slog.DiscardHandler)))
}
