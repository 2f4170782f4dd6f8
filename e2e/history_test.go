package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/youworker/youworker/devservices"
)

// recordHistory saves a finished workflow's history under workflows/testdata/<name>.json when
// YW_RECORD_HISTORIES=1 (with YW_RECORD_SUFFIX=_vN to keep the older files), for the replay tests of the workflows package (which fail when a code
// change breaks determinism for runs already in flight). Re-record after an intended,
// workflow.GetVersion-guarded change, keeping the old files.
func recordHistory(t *testing.T, p *platform, workflowID, name string) {
	t.Helper()
	if os.Getenv("YW_RECORD_HISTORIES") != "1" {
		return
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(workflowHistory(t, p, workflowID))
	require.NoError(t, err)
	root, err := devservices.RepoRoot()
	require.NoError(t, err)
	// YW_RECORD_SUFFIX keeps histories of an older workflow version next to the new ones.
	path := filepath.Join(root, "workflows", "testdata", name+os.Getenv("YW_RECORD_SUFFIX")+".json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	t.Logf("recorded %s", path)
}

// workflowHistory reads a workflow's history from the platform's own Temporal: the dev server, or
// the Temporal server of the kill matrix.
func workflowHistory(t *testing.T, p *platform, workflowID string) *historypb.History {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: p.env["TEMPORAL_ADDRESS"], Namespace: p.env["TEMPORAL_NAMESPACE"]})
	require.NoError(t, err)
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return &h
}
