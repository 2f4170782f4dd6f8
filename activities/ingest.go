package activities

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	ollama "github.com/ollama/ollama/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/chunk"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/vectors"
)

// Error types of the ingestion activities; the workflow maps them onto the run's error code.
const (
	ErrTypeBadDocument  = spec.ErrTypeBadDocument
	ErrTypeUnsupported  = spec.ErrTypeUnsupported
	ErrTypeNoAudio      = spec.ErrTypeNoAudio
	ErrTypeFetchBlocked = spec.ErrTypeFetchBlocked
	ErrTypeFetchFailed  = spec.ErrTypeFetchFailed
	ErrTypeEmbedFailed  = spec.ErrTypeEmbedFailed
)

// Ingest holds the activities of the IngestDocument workflow.
type Ingest struct {
	Store     *store.Store
	Blobs     *store.Blobs
	Box       *encryption.Box
	Guard     *ssrf.Guard
	Extractor *extract.Extractor
	Chunking  chunk.Options
	Ollama    *ollama.Client
	Vectors   vectors.Store
	// EmbedModel embeds chunks; EmbedBatch texts go in one request, at most EmbedConcurrency
	// requests at once across all the runs this worker executes (the embedder's capacity).
	EmbedModel       string
	EmbedBatch       int
	EmbedConcurrency int
	// TempDir holds files materialised for the extractors (removed after use).
	TempDir string
	// Metrics records stage durations, embedding requests, chunks indexed and finished runs (nil: none).
	Metrics *metrics.Worker

	slotsOnce sync.Once
	slots     chan struct{}
}

// acquire takes one of the worker's embedding slots, heartbeating while it waits so that a queue
// of runs behind a busy embedder is not mistaken for dead activities.
func (a *Ingest) acquire(ctx context.Context, progress int) error {
	a.slotsOnce.Do(func() { a.slots = make(chan struct{}, max(a.EmbedConcurrency, 1)) })
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case a.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			activity.RecordHeartbeat(ctx, progress)
		}
	}
}

func (a *Ingest) release() { <-a.slots }

type RunRef = spec.RunRef

func (a *Ingest) log() eventLog { return eventLog{store: a.Store, box: a.Box, log: store.RunLog} }

type StageInput = spec.StageInput

// BeginStage marks the run running in a stage and emits the stage event (and run.started first).
// Runs of the workflow's first shape call it as a local activity before each stage; later ones
// have their activities announce their stages themselves (Prepare, SliceInput.Announce).
func (a *Ingest) BeginStage(ctx context.Context, in StageInput) error {
	if err := a.Store.BeginRunStage(ctx, in.RunID, in.Stage, time.Now().UTC()); err != nil {
		return err
	}
	var events []event
	if in.Stage == models.StageFetch {
		events = append(events, event{key: "run.started", typ: models.EventRunStarted, data: map[string]any{
			"run_id": in.RunID, "document_id": in.DocumentID}})
	}
	events = append(events, event{key: "stage:" + in.Stage, typ: models.EventStage, data: map[string]any{
		"stage": in.Stage, "chunks_done": in.Done, "chunks_total": in.Total}})
	return a.log().emit(ctx, in.RunID, events...)
}

type PrepareResult = spec.PrepareResult

// Prepare runs the fetch, extract and chunk stages in one activity, announcing each as it starts
// (the run's stage, the stage event): one activity task and one workflow task where there were
// three of each and a local activity before each. Every stage is idempotent, so a retry redoes
// what a failed attempt had done; a permanent failure of any stage fails it at once. It
// heartbeats, so that a cancel stops an extraction in progress.
func (a *Ingest) Prepare(ctx context.Context, in RunRef) (PrepareResult, error) {
	beat := &heartbeat{}
	stop := keepAlive(ctx, time.Second, func(time.Time) { beat.record(ctx) })
	defer stop()
	if err := a.BeginStage(ctx, StageInput{RunRef: in, Stage: models.StageFetch}); err != nil {
		return PrepareResult{}, err
	}
	began := time.Now()
	fetched, err := a.Fetch(ctx, in)
	if err != nil || fetched.DuplicateOf != nil {
		return PrepareResult{DuplicateOf: fetched.DuplicateOf}, err
	}
	a.Metrics.Stage(models.StageFetch, time.Since(began))
	if err := a.BeginStage(ctx, StageInput{RunRef: in, Stage: models.StageExtract}); err != nil {
		return PrepareResult{}, err
	}
	began = time.Now()
	if err := a.extract(ctx, in, beat); err != nil {
		return PrepareResult{}, err
	}
	a.Metrics.Stage(models.StageExtract, time.Since(began))
	if err := a.BeginStage(ctx, StageInput{RunRef: in, Stage: models.StageChunk}); err != nil {
		return PrepareResult{}, err
	}
	began = time.Now()
	n, err := a.Chunk(ctx, in)
	if err == nil {
		a.Metrics.Stage(models.StageChunk, time.Since(began))
	}
	return PrepareResult{Chunks: n}, err
}

// noteAttempt records retries in the run's attempts column.
func (a *Ingest) noteAttempt(ctx context.Context, runID uuid.UUID) {
	if n := activity.GetInfo(ctx).Attempt; n > 1 {
		_ = a.Store.NoteRunAttempt(ctx, runID, int(n))
	}
}

type FetchResult = spec.FetchResult

// Fetch makes sure the document's bytes are stored: uploads and texts already are; URLs are
// fetched through the SSRF guard. Identical content the owner already has ready in the same
// scope (the same group, or personal) makes this document a duplicate (no chunks, no vectors).
func (a *Ingest) Fetch(ctx context.Context, in RunRef) (FetchResult, error) {
	a.noteAttempt(ctx, in.RunID)
	doc, err := a.Store.DocumentByID(ctx, in.DocumentID)
	if err != nil {
		return FetchResult{}, permanentIfNotFound(err)
	}
	if doc.BlobID == nil {
		if doc.SourceKind != models.SourceURL {
			return FetchResult{}, temporal.NewNonRetryableApplicationError("the document has no content", ErrTypeBadDocument, nil)
		}
		resp, err := a.Guard.Fetch(ctx, doc.SourceURL)
		switch {
		case errors.Is(err, ssrf.ErrBlocked), errors.Is(err, ssrf.ErrScheme):
			return FetchResult{}, temporal.NewNonRetryableApplicationError("the URL is not allowed: "+err.Error(), ErrTypeFetchBlocked, nil)
		case errors.Is(err, ssrf.ErrTooLarge), errors.Is(err, ssrf.ErrTooManyRedirects):
			return FetchResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeFetchFailed, nil)
		case err != nil:
			return FetchResult{}, temporal.NewApplicationErrorWithCause("fetching the URL failed", ErrTypeFetchFailed, err)
		}
		blob, err := a.Blobs.Put(ctx, bytes.NewReader(resp.Body), resp.ContentType)
		if err != nil {
			return FetchResult{}, err
		}
		if err := a.Store.UpdateDocument(ctx, doc.ID, map[string]any{"blob_id": blob.ID, "sha256": blob.SHA256,
			"size_bytes": blob.SizeBytes}); err != nil {
			return FetchResult{}, permanentIfNotFound(err)
		}
		doc.SHA256 = blob.SHA256
	}
	dup, err := a.Store.ReadyDuplicate(ctx, doc)
	if errors.Is(err, models.ErrNotFound) {
		return FetchResult{}, nil
	}
	if err != nil {
		return FetchResult{}, err
	}
	return FetchResult{DuplicateOf: &dup.ID}, nil
}

// Extract turns the stored bytes into structured text, stored as a blob for the chunk stage. The
// pages of a scanned PDF are OCRed one by one, each kept in Postgres with a page event, so that a
// retry resumes at the next page (ocrCheckpoint).
func (a *Ingest) Extract(ctx context.Context, in RunRef) error {
	return a.extract(ctx, in, &heartbeat{})
}

// extract is Extract with the heartbeat of the activity that runs it.
func (a *Ingest) extract(ctx context.Context, in RunRef, beat *heartbeat) error {
	a.noteAttempt(ctx, in.RunID)
	doc, err := a.Store.DocumentByID(ctx, in.DocumentID)
	if err != nil {
		return permanentIfNotFound(err)
	}
	path, cleanup, err := a.materialise(ctx, *doc.BlobID)
	if err != nil {
		return err
	}
	defer cleanup()
	media := doc.ContentType
	if media == "" || doc.SourceKind == models.SourceURL {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		media, err = extract.Sniff(f, st.Size(), doc.OriginalFilename)
		f.Close()
		if err != nil {
			return extractError(err)
		}
	}
	cp := &ocrCheckpoint{a: a, ref: in, attempt: activity.GetInfo(ctx).Attempt, beat: beat}
	out, err := a.Extractor.ExtractResumable(ctx, media, path, cp)
	if err != nil {
		return extractError(err)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	sealed, err := a.Box.Encrypt(store.ExtractedText(doc.ID), raw)
	if err != nil {
		return err
	}
	blob, err := a.Blobs.Put(ctx, bytes.NewReader(sealed), "application/vnd.youworker.extracted+fernet")
	if err != nil {
		return err
	}
	fields := map[string]any{"extracted_blob_id": blob.ID, "content_type": media}
	if doc.Title == "" && out.Title != "" {
		fields["title"] = truncateRunes(out.Title, 500)
	}
	if err := a.Store.UpdateDocument(ctx, doc.ID, fields); err != nil {
		return permanentIfNotFound(err)
	}
	if doc.ExtractedBlobID != nil {
		_ = a.Blobs.Delete(ctx, *doc.ExtractedBlobID) // an earlier attempt's output
	}
	return nil
}

// Chunk splits the extracted text into chunks with their positions and returns how many.
func (a *Ingest) Chunk(ctx context.Context, in RunRef) (int, error) {
	doc, err := a.Store.DocumentByID(ctx, in.DocumentID)
	if err != nil {
		return 0, permanentIfNotFound(err)
	}
	var buf bytes.Buffer
	if _, err := a.Blobs.CopyTo(ctx, *doc.ExtractedBlobID, &buf); err != nil {
		return 0, err
	}
	raw, err := a.Box.Decrypt(store.ExtractedText(doc.ID), buf.Bytes())
	if err != nil {
		return 0, err
	}
	var ed extract.Document
	if err := json.Unmarshal(raw, &ed); err != nil {
		return 0, err
	}
	chunks := chunk.Split(ed, a.Chunking)
	if len(chunks) == 0 {
		return 0, temporal.NewNonRetryableApplicationError("the document has no text", ErrTypeBadDocument, nil)
	}
	rows := make([]models.DocumentChunk, len(chunks))
	for i, c := range chunks {
		rows[i] = models.DocumentChunk{DocumentID: doc.ID, Idx: c.Index, Text: c.Text, TokenCount: c.Tokens,
			HeadingPath: c.HeadingPath, StartOffset: c.Start, EndOffset: c.End}
		if c.Page > 0 {
			p := c.Page
			rows[i].Page = &p
		}
	}
	if err := a.Store.ReplaceChunks(ctx, doc.ID, rows); err != nil {
		return 0, err
	}
	if err := a.Store.UpdateRun(ctx, in.RunID, map[string]any{"chunks_total": len(rows), "chunks_done": 0}); err != nil {
		return 0, err
	}
	return len(rows), nil
}

type SliceInput = spec.SliceInput

// Embed embeds the chunks of the slice that have no embedding yet, in batches, several at once,
// saving each batch as it completes and heartbeating progress. A retry (after a worker crash or
// an embedder failure) resumes after the last saved batch.
func (a *Ingest) Embed(ctx context.Context, in SliceInput) error {
	a.noteAttempt(ctx, in.RunID)
	if in.Announce {
		if err := a.BeginStage(ctx, StageInput{RunRef: in.RunRef, Stage: models.StageEmbed, Done: in.From, Total: in.Total}); err != nil {
			return err
		}
	}
	began := time.Now()
	todo, err := a.Store.ChunksToEmbed(ctx, in.DocumentID, in.From, in.To)
	if err != nil {
		return err
	}
	batch := max(a.EmbedBatch, 1)
	var batches [][]models.DocumentChunk
	for i := 0; i < len(todo); i += batch {
		batches = append(batches, todo[i:min(i+batch, len(todo))])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []models.DocumentChunk)
	var (
		mu       sync.Mutex
		firstErr error
		done     = in.To - in.From - len(todo)
		wg       sync.WaitGroup
	)
	for range max(a.EmbedConcurrency, 1) {
		wg.Go(func() {
			for b := range work {
				mu.Lock()
				d := done
				mu.Unlock()
				err := a.acquire(ctx, d)
				if err == nil {
					err = a.embedBatch(ctx, in.DocumentID, b)
					a.release()
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil {
					done += len(b)
				}
				d = done
				mu.Unlock()
				if err == nil {
					activity.RecordHeartbeat(ctx, d)
					a.progress(ctx, in, d)
				}
			}
		})
	}
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a.Metrics.Stage(models.StageEmbed, time.Since(began))
	return nil
}

// batchTries is how often one failed embedding request is tried again, briefly, before the
// activity fails and Temporal's retry policy (with backoff, resuming after the saved batches) takes
// over. One request among hundreds failing should not cost a whole activity attempt.
var batchTries = []time.Duration{0, 200 * time.Millisecond, 500 * time.Millisecond}

func (a *Ingest) embedBatch(ctx context.Context, documentID uuid.UUID, b []models.DocumentChunk) error {
	var err error
	for _, wait := range batchTries {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if err = a.embedOnce(ctx, documentID, b); err == nil || temporal.IsApplicationError(err) && isNonRetryable(err) {
			return err
		}
	}
	return err
}

func isNonRetryable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

func (a *Ingest) embedOnce(ctx context.Context, documentID uuid.UUID, b []models.DocumentChunk) error {
	texts := make([]string, len(b))
	for i, c := range b {
		texts[i] = c.Text
	}
	began := time.Now()
	resp, err := a.Ollama.Embed(ctx, &ollama.EmbedRequest{Model: a.EmbedModel, Input: texts})
	a.Metrics.Embedding(time.Since(began))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se ollama.StatusError
		if errors.As(err, &se) && se.StatusCode == 404 {
			return temporal.NewNonRetryableApplicationError("embedding model not found: "+a.EmbedModel, ErrTypeEmbedFailed, err)
		}
		return temporal.NewApplicationErrorWithCause("the embedder is unavailable", ErrTypeEmbedFailed, err)
	}
	if len(resp.Embeddings) != len(b) {
		return temporal.NewApplicationError(fmt.Sprintf("the embedder returned %d vectors for %d texts", len(resp.Embeddings), len(b)), ErrTypeEmbedFailed)
	}
	vecs := make(map[int][]byte, len(b))
	for i, c := range b {
		vecs[c.Idx] = encodeVector(resp.Embeddings[i])
	}
	return a.Store.SaveEmbeddings(ctx, documentID, vecs)
}

// progress updates the run's counters and emits a progress event.
func (a *Ingest) progress(ctx context.Context, in SliceInput, done int) {
	total := in.Total
	n := in.From + done
	_ = a.Store.UpdateRun(ctx, in.RunID, map[string]any{"chunks_done": n})
	_ = a.log().emit(ctx, in.RunID, event{key: fmt.Sprintf("progress:embed:%d", n), typ: models.EventProgress, data: map[string]any{
		"stage": models.StageEmbed, "chunks_done": n, "chunks_total": total}})
}

type IndexResult = spec.IndexResult

// Index upserts the slice's vectors under ids derived from the document and chunk index, so a
// retry overwrites instead of duplicating.
func (a *Ingest) Index(ctx context.Context, in SliceInput) (IndexResult, error) {
	a.noteAttempt(ctx, in.RunID)
	if in.Announce {
		if err := a.BeginStage(ctx, StageInput{RunRef: in.RunRef, Stage: models.StageIndex, Done: in.Total, Total: in.Total}); err != nil {
			return IndexResult{}, err
		}
	}
	began := time.Now()
	doc, err := a.Store.DocumentByID(ctx, in.DocumentID)
	if err != nil {
		return IndexResult{}, permanentIfNotFound(err)
	}
	rows, err := a.Store.ChunkEmbeddings(ctx, in.DocumentID, in.From, in.To)
	if err != nil {
		return IndexResult{}, err
	}
	points := make([]vectors.Point, 0, len(rows))
	dim := 0
	for _, r := range rows {
		if r.Embedding == nil {
			return IndexResult{}, fmt.Errorf("chunk %d has no embedding", r.Idx)
		}
		v := decodeVector(r.Embedding)
		dim = len(v)
		points = append(points, vectors.Point{ID: PointID(doc.ID, r.Idx), Vector: v, OwnerID: doc.OwnerID,
			GroupID: doc.GroupID, DocumentID: doc.ID, ChunkIndex: r.Idx})
	}
	coll := vectors.Collection{Model: a.EmbedModel, Dim: dim}
	for i := 0; i < len(points); i += 256 {
		if err := a.Vectors.Upsert(ctx, coll, points[i:min(i+256, len(points))]); err != nil {
			return IndexResult{}, err
		}
		activity.RecordHeartbeat(ctx, i)
	}
	a.Metrics.ChunksIndexed(len(points))
	a.Metrics.Stage(models.StageIndex, time.Since(began))
	return IndexResult{Dim: dim}, nil
}

// EmbedAndIndex embeds a slice, then indexes it (announcing both stages when in.Announce): for a
// document of one slice, the common case, one activity where there were two. A retry resumes the
// embedding after its last saved batch and indexes again (the upsert overwrites).
func (a *Ingest) EmbedAndIndex(ctx context.Context, in SliceInput) (IndexResult, error) {
	if err := a.Embed(ctx, in); err != nil {
		return IndexResult{}, err
	}
	return a.Index(ctx, in)
}

// PointID is the vector id of a chunk: derived, so re-indexing overwrites.
func PointID(documentID uuid.UUID, idx int) uuid.UUID {
	return uuid.NewSHA1(documentID, fmt.Appendf(nil, "chunk/%d", idx))
}

type FinishRunInput = spec.FinishRunInput

// FinishRun records the outcome on the run and the document and emits the terminal event. A
// cancelled or failed run's partial vectors are removed.
func (a *Ingest) FinishRun(ctx context.Context, in FinishRunInput) error {
	doc := map[string]any{}
	typ := models.EventRunCompleted
	switch in.Status {
	case models.RunCompleted:
		doc["status"], doc["chunk_count"], doc["embedding_model"], doc["error"] = models.DocReady, in.Chunks, a.EmbedModel, ""
		if in.DuplicateOf != nil {
			doc["duplicate_of"], doc["chunk_count"] = *in.DuplicateOf, 0
		}
	case models.RunCancelled:
		typ = models.EventRunCancelled
		doc["status"] = models.DocCancelled
	default:
		typ = models.EventRunFailed
		doc["status"], doc["error"] = models.DocFailed, in.Message
	}
	if err := a.Store.DeleteOCRPages(ctx, in.DocumentID); err != nil {
		return err // the OCR of a scanned PDF was kept for the run only
	}
	if in.Status != models.RunCompleted {
		if err := a.Store.RemoveDocumentVectors(ctx, a.Vectors, a.EmbedModel, in.DocumentID); err != nil {
			return err
		}
	}
	run := map[string]any{"status": in.Status, "error_code": in.ErrorCode, "error_message": in.Message}
	if in.Status == models.RunCompleted {
		run["stage"], run["chunks_done"] = models.StageFinalize, in.Chunks
	}
	err := a.Store.FinishRun(ctx, in.RunID, in.DocumentID, run, doc)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	data := map[string]any{"run_id": in.RunID, "document_id": in.DocumentID, "status": in.Status, "chunks": in.Chunks}
	if in.ErrorCode != "" {
		data["error"] = map[string]string{"code": in.ErrorCode, "message": in.Message}
	}
	if in.DuplicateOf != nil {
		data["duplicate_of"] = *in.DuplicateOf
	}
	err = a.log().emit(ctx, in.RunID, event{key: "terminal", typ: typ, data: data})
	if errors.Is(err, models.ErrNotFound) {
		return nil // the document (and its run) was deleted meanwhile
	}
	if err == nil {
		a.Metrics.RunFinished(in.Status)
	}
	return err
}

func (a *Ingest) materialise(ctx context.Context, blobID uuid.UUID) (string, func(), error) {
	f, err := os.CreateTemp(a.TempDir, "yw-extract-*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	if _, err := a.Blobs.CopyTo(ctx, blobID, f); err != nil {
		f.Close()
		cleanup()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

func extractError(err error) error {
	switch {
	case errors.Is(err, extract.ErrUnsupported):
		return temporal.NewNonRetryableApplicationError("unsupported document type", ErrTypeUnsupported, nil)
	case errors.Is(err, extract.ErrNoAudio):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoAudio, nil)
	case extract.Permanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadDocument, nil)
	}
	return err
}

func permanentIfNotFound(err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("the document no longer exists", "DOCUMENT_DELETED", err)
	}
	return err
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
