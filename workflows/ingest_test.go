package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/models"
)

var ingest *activities.Ingest

func ingestInput() IngestInput {
	return IngestInput{RunID: uuid.New(), DocumentID: uuid.New(), OwnerID: uuid.New(), Limits: IngestLimits{
		StageTimeout: time.Minute, EmbedTimeout: time.Minute, Heartbeat: 30 * time.Second, MaxAttempts: 3,
		SliceChunks: 512, MaxSlices: 100,
	}}
}

func newIngestEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *activities.FinishRunInput) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(IngestDocument)
	env.RegisterActivity(ingest)
	fin := &activities.FinishRunInput{}
	env.OnActivity(ingest.FinishRun, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishRunInput) error {
		*fin = in
		return nil
	})
	return env, fin
}

// sliceLog records the slices an activity was given.
type sliceLog []activities.SliceInput

func (s *sliceLog) embed(_ context.Context, in activities.SliceInput) error {
	*s = append(*s, in)
	return nil
}

func (s *sliceLog) index(_ context.Context, in activities.SliceInput) (activities.IndexResult, error) {
	*s = append(*s, in)
	return activities.IndexResult{Dim: 8}, nil
}

// A document of one slice is prepared (fetch, extract, chunk) by one activity and embedded and
// indexed by another, which announces both stages; no stage needs a local activity first.
func TestIngestOfOneSliceRunsTwoActivities(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{Chunks: 300}, nil).Once()
	var both sliceLog
	env.OnActivity(ingest.EmbedAndIndex, mock.Anything, mock.Anything).Return(both.index).Once()
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, 300, fin.Chunks)
	require.Equal(t, sliceLog{{RunRef: both[0].RunRef, From: 0, To: 300, Total: 300, Announce: true}}, both)
	env.AssertExpectations(t)
	for _, name := range []string{"BeginStage", "Fetch", "Extract", "Chunk", "Embed", "Index"} {
		env.AssertNotCalled(t, name, mock.Anything, mock.Anything)
	}
}

// A document of several slices embeds them all, then indexes them all; the first slice of each
// stage announces it.
func TestIngestCompletes(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{Chunks: 1000}, nil)
	var embedded, indexed sliceLog
	env.OnActivity(ingest.Embed, mock.Anything, mock.Anything).Return(embedded.embed)
	env.OnActivity(ingest.Index, mock.Anything, mock.Anything).Return(indexed.index)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, 1000, fin.Chunks)
	// Slices cover [0, 1000) exactly once, in both stages.
	for _, s := range []sliceLog{embedded, indexed} {
		require.Len(t, s, 2)
		require.Equal(t, 0, s[0].From)
		require.Equal(t, s[0].To, s[1].From)
		require.Equal(t, 1000, s[1].To)
		require.True(t, s[0].Announce)
		require.False(t, s[1].Announce)
	}
}

// TestHugeDocumentKeepsHistoryBounded: however many chunks, each stage runs at most MaxSlices
// activities (the slice grows instead).
func TestHugeDocumentKeepsHistoryBounded(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{Chunks: 250_000}, nil)
	calls, covered := 0, 0
	env.OnActivity(ingest.Embed, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SliceInput) error {
		calls++
		covered += in.To - in.From
		return nil
	})
	env.OnActivity(ingest.Index, mock.Anything, mock.Anything).Return(activities.IndexResult{}, nil)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.LessOrEqual(t, calls, 100)
	require.Equal(t, 250_000, covered)
}

func TestIngestDuplicateStopsAfterPrepare(t *testing.T) {
	env, fin := newIngestEnv(t)
	dup := uuid.New()
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{DuplicateOf: &dup}, nil)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, &dup, fin.DuplicateOf)
	env.AssertNotCalled(t, "EmbedAndIndex", mock.Anything, mock.Anything)
}

func TestIngestBadDocumentFailsWithoutRetry(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{},
		temporal.NewNonRetryableApplicationError("encrypted PDF", activities.ErrTypeBadDocument, nil)).Once()
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunFailed, fin.Status)
	require.Equal(t, activities.ErrTypeBadDocument, fin.ErrorCode)
	require.Equal(t, "encrypted PDF", fin.Message)
	env.AssertExpectations(t)
}

func TestIngestCancelDuringEmbed(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{Chunks: 100}, nil)
	env.OnActivity(ingest.EmbedAndIndex, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ activities.SliceInput) (activities.IndexResult, error) {
		<-ctx.Done()
		return activities.IndexResult{}, ctx.Err()
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCancelRun, nil) }, time.Second)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCancelled, fin.Status)
}

// A worker that dies while it prepares a document (OCRing a scanned PDF, say) is noticed after the
// heartbeat timeout, not the stage timeout: Prepare runs with one.
func TestPrepareRunsWithAHeartbeatTimeout(t *testing.T) {
	env, fin := newIngestEnv(t)
	var heartbeat time.Duration
	env.OnActivity(ingest.Prepare, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ activities.RunRef) (activities.PrepareResult, error) {
		heartbeat = activity.GetInfo(ctx).HeartbeatTimeout
		return activities.PrepareResult{Chunks: 1}, nil
	})
	env.OnActivity(ingest.EmbedAndIndex, mock.Anything, mock.Anything).Return(activities.IndexResult{Dim: 8}, nil)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, 30*time.Second, heartbeat)
}
