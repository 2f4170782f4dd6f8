package workflows

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
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

// withShape is a recorded ChatTurn history whose input says shape (ChatTurnInput.Shape).
func withShape(t *testing.T, file string, shape int) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	p := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	var in map[string]any
	require.NoError(t, json.Unmarshal(p.Data, &in))
	in["Shape"] = shape
	p.Data, err = json.Marshal(in)
	require.NoError(t, err)
	return h
}

// TestReplayShapeFromInput: a run's shape comes from its input when it has one, and only then from
// workflow.GetVersion.
func TestReplayShapeFromInput(t *testing.T) {
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	// During a rolling deploy an old worker runs a new API's turn: it ignores Shape and records
	// GetVersion's marker and TemporalChangeVersion upsert. Today's code skips the call; the SDK
	// skips the marker and its upsert, so the run replays.
	for _, f := range []string{"testdata/chat_turn_plain_v4.json", "testdata/chat_turn_tool_v4.json", "testdata/chat_turn_approved_v4.json"} {
		require.NoError(t, replayer().ReplayWorkflowHistory(logger, withShape(t, f, ChatTurnShape)), f)
	}
	// The input decides, not GetVersion: the first shape's run (its context loaded by a local
	// activity, no marker) does not replay when its input claims the current shape.
	require.NoError(t, replayer().ReplayWorkflowHistory(logger, withShape(t, "testdata/chat_turn_plain_v5.json", ChatTurnShape)))
	require.ErrorContains(t, replayer().ReplayWorkflowHistory(logger, withShape(t, "testdata/chat_turn_plain.json", ChatTurnShape)), "TMPRL1100")
	// A shape this code does not know (a newer API's) fails the workflow task, not the turn.
	require.ErrorContains(t, replayer().ReplayWorkflowHistory(logger, withShape(t, "testdata/chat_turn_plain_v5.json", ChatTurnShape+1)),
		"unknown to this worker")
}
