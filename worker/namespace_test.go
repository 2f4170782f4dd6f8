package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/worker"
	"github.com/youworker/youworker/workflows"
)

func TestMain(m *testing.M) {
	// The dev server starts with no custom search attributes: registering them is under test.
	testenv.SearchAttributes = nil
	testenv.Main(m)
}

func newNamespace() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "yw-test-" + hex.EncodeToString(b)
}

func TestPrepareNamespaceRegistersNamespaceAndAttributesOnce(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace()

	setup, err := worker.PrepareNamespace(ctx, c, ns, 48*time.Hour, workflows.SearchAttributes(), slog.Default())
	require.NoError(t, err)
	require.True(t, setup.CreatedNamespace)
	require.Equal(t, []string{"YwDocumentId", "YwGroupId", "YwModel", "YwSessionId", "YwStatus", "YwUserId"}, setup.Added)

	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	require.NoError(t, err)
	for name := range workflows.SearchAttributes() {
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, list.GetCustomAttributes()[name], name)
	}

	// Usable at once: a workflow starts with them right away (frontends cache the mappings).
	nc, err := client.NewClientFromExisting(c, client.Options{Namespace: ns})
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "first", TaskQueue: "nobody",
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(workflows.AttrStatus).ValueSet("running"))}, "Anything")
	require.NoError(t, err)

	// A second run (another migrate, a redeploy) changes nothing.
	setup, err = worker.PrepareNamespace(ctx, c, ns, time.Hour, workflows.SearchAttributes(), slog.Default())
	require.NoError(t, err)
	require.False(t, setup.CreatedNamespace)
	require.Empty(t, setup.Added)
	desc, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(), "an existing namespace keeps its retention")
}

func TestPrepareNamespaceAddsOnlyWhatIsMissing(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace()
	_, err := worker.PrepareNamespace(ctx, c, ns, 24*time.Hour, map[string]string{"YwUserId": "Keyword"}, slog.Default())
	require.NoError(t, err)

	setup, err := worker.PrepareNamespace(ctx, c, ns, 24*time.Hour, workflows.SearchAttributes(), slog.Default())
	require.NoError(t, err)
	require.False(t, setup.CreatedNamespace)
	require.Equal(t, []string{"YwDocumentId", "YwGroupId", "YwModel", "YwSessionId", "YwStatus"}, setup.Added)
}

func TestPrepareNamespaceRefusesAnAttributeOfAnotherType(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := newNamespace()
	_, err := worker.PrepareNamespace(ctx, c, ns, 24*time.Hour, map[string]string{"YwStatus": "Int"}, slog.Default())
	require.NoError(t, err)

	_, err = worker.PrepareNamespace(ctx, c, ns, 24*time.Hour, workflows.SearchAttributes(), slog.Default())
	require.ErrorContains(t, err, "search attribute YwStatus exists in namespace "+ns+" as Int, YouWorker needs Keyword")

	_, err = worker.PrepareNamespace(ctx, c, ns, 24*time.Hour, map[string]string{"YwX": "Number"}, slog.Default())
	require.ErrorContains(t, err, `search attribute YwX: unknown type "Number"`)
}
