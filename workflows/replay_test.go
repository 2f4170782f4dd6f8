package workflows

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// replayer knows every workflow of the worker.
func replayer() worker.WorkflowReplayer {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(ChatTurn)
	r.RegisterWorkflow(IngestDocument)
	r.RegisterWorkflow(Probe)
	r.RegisterWorkflow(RotateKeys)
	r.RegisterWorkflow(ReapTurns)
	r.RegisterWorkflow(DeleteAccount)
	return r
}

// TestReplayRecordedHistories replays histories recorded from real runs (see e2e/history_test.go),
// on the dev server and on the Temporal server of the kill matrix (cluster_*.json): a change to a
// workflow that would break runs already in flight fails here. Such changes go behind
// workflow.GetVersion (or, for pinned workflows on versioned workers, ship as a new build).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in workflows/testdata")
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		for _, wf := range []string{"chat_turn", "ingest", "probe", "rotate_keys", "reap_turns", "delete_account"} {
			if strings.HasPrefix(strings.TrimPrefix(name, "cluster_"), wf) {
				seen[wf] = true
			}
		}
		t.Run(name, func(t *testing.T) {
			require.NoError(t, replayer().ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f))
		})
	}
	for _, wf := range []string{"chat_turn", "ingest", "probe", "rotate_keys", "reap_turns", "delete_account"} {
		require.True(t, seen[wf], "no recorded history of %s in workflows/testdata", wf)
	}
}

// divergedChatTurn is a "ChatTurn" whose first command changed (a timer where an activity was):
// what a deploy without GetVersion would do to runs in flight.
func divergedChatTurn(ctx workflow.Context, _ ChatTurnInput) (ChatTurnResult, error) {
	return ChatTurnResult{}, workflow.Sleep(ctx, 1)
}

// TestReplayCatchesANondeterministicChange: the replay test is only worth something if it fails
// on an incompatible change; this fixture is one.
func TestReplayCatchesANondeterministicChange(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(divergedChatTurn, workflow.RegisterOptions{Name: "ChatTurn"})
	err := r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), "testdata/chat_turn_plain.json")
	require.ErrorContains(t, err, "TMPRL1100", "Temporal's nondeterminism error")
}
