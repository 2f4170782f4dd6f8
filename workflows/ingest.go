package workflows

import (
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/models"
)

// IngestLimits bound an ingestion run; they travel in the input like TurnLimits.
type IngestLimits struct {
	StageTimeout time.Duration // fetch, extract, chunk: start to close
	EmbedTimeout time.Duration // one slice of embeddings, start to close
	Heartbeat    time.Duration // a silent embed/index activity is retried elsewhere after this
	MaxAttempts  int32         // per stage; embedder failures retry with backoff up to this
	SliceChunks  int           // chunks per embed/index activity
	MaxSlices    int           // the slice grows so a stage never has more activities than this
	// FinishTimeout bounds the retries of the run's bookkeeping while Postgres is unreachable (0:
	// one minute, older runs).
	FinishTimeout time.Duration
}

// IngestInput starts an ingestion run.
type IngestInput struct {
	RunID      uuid.UUID
	DocumentID uuid.UUID
	OwnerID    uuid.UUID
	Limits     IngestLimits
}

// IngestResult is the outcome of a run.
type IngestResult struct {
	Status    string
	ErrorCode string
	Chunks    int
}

// RunProgress answers the progress query.
type RunProgress struct {
	Status      string `json:"status"`
	Stage       string `json:"stage"`
	ChunksDone  int    `json:"chunks_done"`
	ChunksTotal int    `json:"chunks_total"`
}

// IngestDocument runs fetch → extract → chunk → embed → index → finalize: fetch, extract and chunk
// in one activity, embed and index in one for a document of one slice. Bytes and text go by
// reference (blob and row ids). Embedding and indexing go in slices of chunks, each an activity
// that heartbeats and resumes after its last saved batch; the slice grows with the document so the
// history stays bounded (at most MaxSlices activities per stage) however many chunks there are.
func IngestDocument(ctx workflow.Context, in IngestInput) (IngestResult, error) {
	ref := spec.RunRef{RunID: in.RunID, DocumentID: in.DocumentID, OwnerID: in.OwnerID}
	p := RunProgress{Status: models.RunRunning}
	if err := workflow.SetQueryHandler(ctx, QueryRunProgress, func() (RunProgress, error) { return p, nil }); err != nil {
		return IngestResult{}, err
	}
	work, cancelWork := workflow.WithCancel(ctx)
	cancelled := false
	workflow.Go(ctx, func(gctx workflow.Context) {
		workflow.GetSignalChannel(gctx, SignalCancelRun).Receive(gctx, nil)
		cancelled = true
		cancelWork()
	})

	res, dup, err := runIngest(work, ref, in.Limits, &p)
	fin, _ := workflow.NewDisconnectedContext(ctx)
	out := spec.FinishRunInput{RunRef: ref, Status: models.RunCompleted, Chunks: res.Chunks, DuplicateOf: dup}
	switch {
	case cancelled || ctx.Err() != nil || (err != nil && temporal.IsCanceledError(err)):
		out.Status = models.RunCancelled
	case err != nil:
		out.Status = models.RunFailed
		out.ErrorCode, out.Message = ingestFailure.describe(err)
	}
	p.Status = out.Status
	finErr := workflow.ExecuteLocalActivity(bookkeeping(fin, in.Limits.FinishTimeout), spec.FinishRun, out).Get(fin, nil)
	return IngestResult{Status: out.Status, ErrorCode: out.ErrorCode, Chunks: res.Chunks}, finErr
}

func runIngest(ctx workflow.Context, ref spec.RunRef, lim IngestLimits, p *RunProgress) (IngestResult, *uuid.UUID, error) {
	var res IngestResult
	retry := &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 1.5, MaximumInterval: 5 * time.Second,
		MaximumAttempts: lim.MaxAttempts, NonRetryableErrorTypes: []string{spec.ErrTypeBadDocument, spec.ErrTypeUnsupported,
			spec.ErrTypeNoAudio, spec.ErrTypeFetchBlocked}}
	stageCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: lim.StageTimeout, RetryPolicy: retry,
		HeartbeatTimeout: 0, WaitForCancellation: true})
	sliceCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: lim.EmbedTimeout, RetryPolicy: retry,
		HeartbeatTimeout: lim.Heartbeat, WaitForCancellation: true})
	// Version 1 runs fetch, extract and chunk in one activity (Prepare) and embeds and indexes a
	// document of one slice in one (EmbedAndIndex), the activities announcing their stages
	// themselves: per document three workflow tasks and two activities instead of six and five,
	// with no local activity before each stage. The Temporal server's work per document was what
	// bounded ingestion on a small machine.
	if workflow.GetVersion(ctx, "stages-in-activities", workflow.DefaultVersion, 1) >= 1 {
		return runStages(ctx, ref, lim, p, stageCtx, sliceCtx)
	}
	begin := func(stage string) error {
		p.Stage = stage
		return workflow.ExecuteLocalActivity(bookkeeping(ctx, lim.FinishTimeout), spec.BeginStage, spec.StageInput{RunRef: ref, Stage: stage,
			Done: p.ChunksDone, Total: p.ChunksTotal}).Get(ctx, nil)
	}

	if err := begin(models.StageFetch); err != nil {
		return res, nil, err
	}
	var fetched spec.FetchResult
	if err := workflow.ExecuteActivity(stageCtx, spec.Fetch, ref).Get(ctx, &fetched); err != nil {
		return res, nil, err
	}
	if fetched.DuplicateOf != nil {
		return res, fetched.DuplicateOf, nil
	}
	if err := begin(models.StageExtract); err != nil {
		return res, nil, err
	}
	if err := workflow.ExecuteActivity(stageCtx, spec.Extract, ref).Get(ctx, nil); err != nil {
		return res, nil, err
	}
	if err := begin(models.StageChunk); err != nil {
		return res, nil, err
	}
	var total int
	if err := workflow.ExecuteActivity(stageCtx, spec.Chunk, ref).Get(ctx, &total); err != nil {
		return res, nil, err
	}
	p.ChunksTotal = total
	res.Chunks = total
	slice := max(lim.SliceChunks, (total+lim.MaxSlices-1)/lim.MaxSlices, 1)

	if err := begin(models.StageEmbed); err != nil {
		return res, nil, err
	}
	for from := 0; from < total; from += slice {
		in := spec.SliceInput{RunRef: ref, From: from, To: min(from+slice, total), Total: total}
		if err := workflow.ExecuteActivity(sliceCtx, spec.Embed, in).Get(ctx, nil); err != nil {
			return res, nil, err
		}
		p.ChunksDone = in.To
	}
	if err := begin(models.StageIndex); err != nil {
		return res, nil, err
	}
	for from := 0; from < total; from += slice {
		in := spec.SliceInput{RunRef: ref, From: from, To: min(from+slice, total), Total: total}
		if err := workflow.ExecuteActivity(sliceCtx, spec.Index, in).Get(ctx, nil); err != nil {
			return res, nil, err
		}
	}
	p.Stage = models.StageFinalize
	return res, nil, nil
}

// runStages is runIngest's version 1: stages announced by the activities that run them.
func runStages(ctx workflow.Context, ref spec.RunRef, lim IngestLimits, p *RunProgress, stageCtx, sliceCtx workflow.Context) (IngestResult, *uuid.UUID, error) {
	var res IngestResult
	p.Stage = models.StageFetch
	// Prepare heartbeats every second (with the OCR progress of a scanned PDF as its detail): a
	// worker that dies during it is noticed after lim.Heartbeat, not the whole stage timeout, and
	// the retry resumes the OCR at the next page. Options are not commands: histories replay.
	prepCtx := workflow.WithActivityOptions(stageCtx, workflow.ActivityOptions{StartToCloseTimeout: lim.StageTimeout,
		RetryPolicy: workflow.GetActivityOptions(stageCtx).RetryPolicy, HeartbeatTimeout: lim.Heartbeat, WaitForCancellation: true})
	var prep spec.PrepareResult
	if err := workflow.ExecuteActivity(prepCtx, spec.Prepare, ref).Get(ctx, &prep); err != nil {
		return res, nil, err
	}
	if prep.DuplicateOf != nil {
		return res, prep.DuplicateOf, nil
	}
	total := prep.Chunks
	p.ChunksTotal, res.Chunks = total, total
	slice := max(lim.SliceChunks, (total+lim.MaxSlices-1)/lim.MaxSlices, 1)
	p.Stage = models.StageEmbed
	if total <= slice {
		in := spec.SliceInput{RunRef: ref, From: 0, To: total, Total: total, Announce: true}
		if err := workflow.ExecuteActivity(sliceCtx, spec.EmbedAndIndex, in).Get(ctx, nil); err != nil {
			return res, nil, err
		}
		p.ChunksDone, p.Stage = total, models.StageFinalize
		return res, nil, nil
	}
	for from := 0; from < total; from += slice {
		in := spec.SliceInput{RunRef: ref, From: from, To: min(from+slice, total), Total: total, Announce: from == 0}
		if err := workflow.ExecuteActivity(sliceCtx, spec.Embed, in).Get(ctx, nil); err != nil {
			return res, nil, err
		}
		p.ChunksDone = in.To
	}
	p.Stage = models.StageIndex
	for from := 0; from < total; from += slice {
		in := spec.SliceInput{RunRef: ref, From: from, To: min(from+slice, total), Total: total, Announce: from == 0}
		if err := workflow.ExecuteActivity(sliceCtx, spec.Index, in).Get(ctx, nil); err != nil {
			return res, nil, err
		}
	}
	p.Stage = models.StageFinalize
	return res, nil, nil
}

// ingestFailure names a failed run's error for its owner.
var ingestFailure = failure{
	timeoutCode: "STAGE_TIMEOUT", timeoutMessage: "a stage did not finish in time",
	otherCode: "INGESTION_FAILED", otherMessage: "the ingestion failed",
}
