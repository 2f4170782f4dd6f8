package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
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
	env.OnActivity(ingest.BeginStage, mock.Anything, mock.Anything).Return(nil)
	fin := &activities.FinishRunInput{}
	env.OnActivity(ingest.FinishRun, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishRunInput) error {
		*fin = in
		return nil
	})
	return env, fin
}

func TestIngestCompletes(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Fetch, mock.Anything, mock.Anything).Return(activities.FetchResult{}, nil)
	env.OnActivity(ingest.Extract, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ingest.Chunk, mock.Anything, mock.Anything).Return(1000, nil)
	var embedded, indexed []activities.SliceInput
	env.OnActivity(ingest.Embed, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SliceInput) error {
		embedded = append(embedded, in)
		return nil
	})
	env.OnActivity(ingest.Index, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SliceInput) (activities.IndexResult, error) {
		indexed = append(indexed, in)
		return activities.IndexResult{Dim: 8}, nil
	})
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, 1000, fin.Chunks)
	// Slices cover [0, 1000) exactly once, in both stages.
	for _, slices := range [][]activities.SliceInput{embedded, indexed} {
		require.Len(t, slices, 2)
		require.Equal(t, 0, slices[0].From)
		require.Equal(t, slices[0].To, slices[1].From)
		require.Equal(t, 1000, slices[1].To)
	}
}

// TestHugeDocumentKeepsHistoryBounded: however many chunks, each stage runs at most MaxSlices
// activities (the slice grows instead).
func TestHugeDocumentKeepsHistoryBounded(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Fetch, mock.Anything, mock.Anything).Return(activities.FetchResult{}, nil)
	env.OnActivity(ingest.Extract, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ingest.Chunk, mock.Anything, mock.Anything).Return(250_000, nil)
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

func TestIngestDuplicateStopsAfterFetch(t *testing.T) {
	env, fin := newIngestEnv(t)
	dup := uuid.New()
	env.OnActivity(ingest.Fetch, mock.Anything, mock.Anything).Return(activities.FetchResult{DuplicateOf: &dup}, nil)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCompleted, fin.Status)
	require.Equal(t, &dup, fin.DuplicateOf)
	env.AssertNotCalled(t, "Extract", mock.Anything, mock.Anything)
}

func TestIngestBadDocumentFailsWithoutRetry(t *testing.T) {
	env, fin := newIngestEnv(t)
	env.OnActivity(ingest.Fetch, mock.Anything, mock.Anything).Return(activities.FetchResult{}, nil)
	env.OnActivity(ingest.Extract, mock.Anything, mock.Anything).Return(
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
	env.OnActivity(ingest.Fetch, mock.Anything, mock.Anything).Return(activities.FetchResult{}, nil)
	env.OnActivity(ingest.Extract, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ingest.Chunk, mock.Anything, mock.Anything).Return(100, nil)
	env.OnActivity(ingest.Embed, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ activities.SliceInput) error {
		<-ctx.Done()
		return ctx.Err()
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCancelRun, nil) }, time.Second)
	env.ExecuteWorkflow(IngestDocument, ingestInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.RunCancelled, fin.Status)
	env.AssertNotCalled(t, "Index", mock.Anything, mock.Anything)
}
