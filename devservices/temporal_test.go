package devservices

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// quietLogger keeps the SDK's warnings (e.g. about polls cut short by worker.Stop) out of the
// test output.
var quietLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

func requireTemporalCLI(t *testing.T) {
	t.Helper()
	root, err := RepoRoot()
	require.NoError(t, err)
	binary := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(binary); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("the Temporal CLI is not built (%s missing): run `make tools`", binary)
	}
}

func searchAttributes(ctx context.Context, t *testing.T, srv *Temporal) map[string]enumspb.IndexedValueType {
	t.Helper()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: quietLogger})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	require.NoError(t, err)
	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace})
	require.NoError(t, err)
	return attrs.GetCustomAttributes()
}

func TestTemporalDevServer(t *testing.T) {
	t.Parallel()
	requireTemporalCLI(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logFile := filepath.Join(t.TempDir(), "temporal.log")
	srv, err := StartTemporal(ctx, TemporalOptions{
		Headless:         true,
		Namespace:        "yw-test",
		SearchAttributes: map[string]string{"YwDevservicesKey": "Keyword"},
		ExtraArgs:        FastDispatchArgs(),
		LogFile:          logFile,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	require.Empty(t, srv.UIURL, "headless")
	require.Equal(t, "yw-test", srv.Namespace)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, searchAttributes(ctx, t, srv)["YwDevservicesKey"])
	requireFastDispatch(ctx, t, srv)

	pid := srv.proc.pid()
	require.NoError(t, srv.Stop(ctx))
	require.NoError(t, srv.Stop(ctx), "Stop is idempotent")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the server process is gone")
	require.FileExists(t, logFile)
}

func bump(_ context.Context, n int) (int, error) { return n + 1, nil }

// stepsWorkflow runs n activities and n 10 ms timers one after the other.
func stepsWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	v := 0
	for range n {
		if err := workflow.ExecuteActivity(ctx, bump, v).Get(ctx, &v); err != nil {
			return 0, err
		}
		if err := workflow.Sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// requireFastDispatch checks that the server runs with FastDispatchArgs (on its command line) and
// runs activities and timers one after the other. How much faster that makes dispatch is the
// bench's to measure (without them each timer alone takes a second and each activity 50–100 ms),
// not a timed assertion's.
func requireFastDispatch(ctx context.Context, t *testing.T, srv *Temporal) {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", srv.proc.pid()))
	require.NoError(t, err)
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	for _, a := range FastDispatchArgs() {
		require.Contains(t, args, a, "the dev server runs with the fast-dispatch settings")
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: quietLogger})
	require.NoError(t, err)
	defer c.Close()
	w := worker.New(c, "devservices-fast-dispatch", worker.Options{})
	w.RegisterWorkflow(stepsWorkflow)
	w.RegisterActivity(bump)
	require.NoError(t, w.Start())
	defer w.Stop()

	const steps = 5
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "devservices-fast-dispatch"}, stepsWorkflow, steps)
	require.NoError(t, err)
	var got int
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, steps, got, "%d activities and 10 ms timers in a row", steps)
}

func TestTemporalKeepsStateInDBFile(t *testing.T) {
	t.Parallel()
	requireTemporalCLI(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbFile := filepath.Join(t.TempDir(), "temporal.db")
	srv, err := StartTemporal(ctx, TemporalOptions{
		DBFile:           dbFile,
		SearchAttributes: map[string]string{"YwKeptKey": "Int"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	require.Equal(t, "default", srv.Namespace)
	resp, err := http.Get(srv.UIURL)
	require.NoError(t, err, "the Web UI answers")
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, srv.Stop(ctx))

	// The second start does not register the attribute: it comes from the file.
	srv, err = StartTemporal(ctx, TemporalOptions{DBFile: dbFile, Headless: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_INT, searchAttributes(ctx, t, srv)["YwKeptKey"])
	require.NoError(t, srv.Stop(ctx))
}

func TestStartTemporalReportsMissingBinary(t *testing.T) {
	_, err := StartTemporal(context.Background(), TemporalOptions{Binary: filepath.Join(t.TempDir(), "temporal")})
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "make tools")
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	require.DirExists(t, filepath.Join(root, "devservices"))
}
