// Package intake accepts documents for ingestion (uploads, texts and URLs), stores their bytes,
// records the document and its run, and starts the IngestDocument workflow. The API and the
// ingest MCP server both go through it.
package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/vectors"
	"github.com/youworker/youworker/workflows"
)

// Service is the document intake.
type Service struct {
	Store      *store.Store
	Blobs      *store.Blobs
	Temporal   client.Client
	TaskQueue  string
	Limits     workflows.IngestLimits
	Guard      *ssrf.Guard
	Vectors    vectors.Store
	EmbedModel string
	MaxUpload  int64        // bytes; larger uploads are refused (413) without reading the rest
	TempDir    string       // where uploads are spooled while they are checked
	Log        *slog.Logger // nil: slog.Default()
}

// Meta is what a client may say about a document besides its content.
type Meta struct {
	Title          string
	GroupID        *uuid.UUID
	Tags           []string
	IdempotencyKey *string
}

// Bounds of a document's metadata, whichever way it arrives.
const (
	MaxTitleChars = 500
	MaxTags       = 20
	MaxTagChars   = 50
)

// check refuses metadata over the bounds, naming the field.
func (m Meta) check() error {
	if utf8.RuneCountInString(m.Title) > MaxTitleChars {
		return models.Invalid("title", "title must be at most %d characters", MaxTitleChars)
	}
	if len(m.Tags) > MaxTags {
		return models.Invalid("tags", "at most %d tags", MaxTags)
	}
	for _, t := range m.Tags {
		if utf8.RuneCountInString(t) > MaxTagChars {
			return models.Invalid("tags", "a tag may be at most %d characters", MaxTagChars)
		}
	}
	return nil
}

// ParseTags reads tags as clients send them: each value may hold several, comma-separated; blanks
// are dropped and the bounds checked.
func ParseTags(raw []string) ([]string, error) {
	var tags []string
	for _, r := range raw {
		for t := range strings.SplitSeq(r, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags, Meta{Tags: tags}.check()
}

// Spool is an upload written to a temporary file while it streams in, with its size, hash and
// sniffed type. Release it when done.
type Spool struct {
	path     string
	Size     int64
	SHA256   []byte
	Media    string
	Filename string // the client's name: metadata only, never a path
}

// Release removes the temporary file.
func (sp *Spool) Release() {
	if sp != nil && sp.path != "" {
		_ = os.Remove(sp.path)
	}
}

// ErrTooLarge is returned when an upload exceeds MaxUpload.
func (s *Service) tooLarge() error {
	return models.Errorf(models.ErrTooLarge, "DOCUMENT_TOO_LARGE", "the document exceeds %d bytes", s.MaxUpload).
		WithDetails(map[string]any{"limit_bytes": s.MaxUpload})
}

// SpoolUpload streams r to a temporary file, stopping as soon as it exceeds MaxUpload, hashes it
// and sniffs its type from the content. An unsupported type is a 415.
func (s *Service) SpoolUpload(r io.Reader, filename string) (*Spool, error) {
	f, err := os.CreateTemp(s.TempDir, "yw-upload-*")
	if err != nil {
		return nil, err
	}
	sp := &Spool{path: f.Name(), Filename: cleanName(filename)}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, s.MaxUpload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sp.Release()
		return nil, err
	}
	if n > s.MaxUpload {
		sp.Release()
		return nil, s.tooLarge()
	}
	if n == 0 {
		sp.Release()
		return nil, models.Invalid("file", "the file is empty")
	}
	sp.Size, sp.SHA256 = n, h.Sum(nil)
	in, err := os.Open(sp.path)
	if err != nil {
		sp.Release()
		return nil, err
	}
	defer in.Close()
	sp.Media, err = extract.Sniff(in, n, sp.Filename)
	if err != nil {
		sp.Release()
		if errors.Is(err, extract.ErrUnsupported) {
			return nil, models.Errorf(models.ErrUnsupported, "UNSUPPORTED_MEDIA_TYPE",
				"this kind of file is not supported (text, Markdown, HTML, PDF, DOCX, CSV, JSON, images and audio are)")
		}
		return nil, err
	}
	return sp, nil
}

// cleanName keeps the base name of a client's file name for display; it is never used as a path.
func cleanName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if len([]rune(name)) > 255 {
		name = string([]rune(name)[:255])
	}
	return name
}

// errKeyReused is the 409 for an Idempotency-Key that already named another request.
var errKeyReused = models.Errorf(models.ErrConflict, "IDEMPOTENCY_KEY_REUSED",
	"this Idempotency-Key was used for a different request; repeat that request exactly to retry it, or use a new key")

// fingerprint hashes what makes two ingestion requests the same request: the kind, the content
// (its SHA-256, or the URL), the file name and the metadata.
func fingerprint(kind string, content []byte, filename string, meta Meta) []byte {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Kind, Filename, Title string
		Content               []byte
		GroupID               *uuid.UUID
		Tags                  []string
	}{kind, filename, meta.Title, content, meta.GroupID, meta.Tags})
	return h.Sum(nil)
}

// replay answers a retried request: with an Idempotency-Key that already names a run of the
// caller, that run and its document (restarting the workflow if it never started), or
// errKeyReused when the key named another request. found is false for a new key.
func (s *Service) replay(ctx context.Context, c models.Caller, meta Meta, fp []byte) (*models.Document, *models.IngestionRun, bool, error) {
	if meta.IdempotencyKey == nil {
		return nil, nil, false, nil
	}
	r, err := s.Store.RunByIdempotencyKey(ctx, c.UserID, *meta.IdempotencyKey)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	d, err := s.Store.DocumentByID(ctx, r.DocumentID)
	if err != nil {
		return nil, nil, false, err
	}
	return d, r, true, s.resume(ctx, d, r, fp)
}

// resume checks that an existing run answers the same request and starts its workflow if it is
// not finished (the request that created it may have died before starting it).
func (s *Service) resume(ctx context.Context, d *models.Document, r *models.IngestionRun, fp []byte) error {
	if r.RequestSHA256 != nil && !bytes.Equal(r.RequestSHA256, fp) {
		return errKeyReused
	}
	if r.Finished() {
		return nil
	}
	return s.start(ctx, d, r)
}

// FromSpool stores a spooled upload and starts its ingestion. A retry under the same
// Idempotency-Key answers from the first request's run without storing the bytes again.
func (s *Service) FromSpool(ctx context.Context, c models.Caller, sp *Spool, meta Meta) (*models.Document, *models.IngestionRun, bool, error) {
	if err := meta.check(); err != nil {
		return nil, nil, false, err
	}
	fp := fingerprint(models.SourceUpload, sp.SHA256, sp.Filename, meta)
	if d, r, found, err := s.replay(ctx, c, meta, fp); found || err != nil {
		return d, r, false, err
	}
	f, err := os.Open(sp.path)
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	blob, err := s.Blobs.Put(ctx, f, sp.Media)
	if err != nil {
		return nil, nil, false, err
	}
	title := meta.Title
	if title == "" {
		title = sp.Filename
	}
	doc := &models.Document{ID: uuid.New(), BlobID: &blob.ID, SourceKind: models.SourceUpload, OriginalFilename: sp.Filename,
		ContentType: sp.Media, SizeBytes: sp.Size, SHA256: sp.SHA256, Title: title}
	d, r, created, err := s.create(ctx, c, doc, meta, "", fp)
	if err != nil || !created {
		_ = s.Blobs.Delete(context.WithoutCancel(ctx), blob.ID)
	}
	return d, r, created, err
}

// Text ingests a text given inline.
func (s *Service) Text(ctx context.Context, c models.Caller, text string, meta Meta) (*models.Document, *models.IngestionRun, bool, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil, false, models.Invalid("text", "text must not be empty")
	}
	if err := meta.check(); err != nil {
		return nil, nil, false, err
	}
	if int64(len(text)) > s.MaxUpload {
		return nil, nil, false, s.tooLarge()
	}
	sum := sha256.Sum256([]byte(text))
	fp := fingerprint(models.SourceText, sum[:], "", meta)
	if d, r, found, err := s.replay(ctx, c, meta, fp); found || err != nil {
		return d, r, false, err
	}
	blob, err := s.Blobs.Put(ctx, strings.NewReader(text), "text/plain")
	if err != nil {
		return nil, nil, false, err
	}
	media := "text/plain"
	if looksLikeMarkdown(text) {
		media = "text/markdown"
	}
	doc := &models.Document{ID: uuid.New(), BlobID: &blob.ID, SourceKind: models.SourceText, ContentType: media,
		SizeBytes: blob.SizeBytes, SHA256: blob.SHA256, Title: meta.Title}
	d, r, created, err := s.create(ctx, c, doc, meta, "", fp)
	if err != nil || !created {
		_ = s.Blobs.Delete(context.WithoutCancel(ctx), blob.ID)
	}
	return d, r, created, err
}

func looksLikeMarkdown(text string) bool {
	for _, line := range strings.SplitN(text, "\n", 50) {
		if strings.HasPrefix(line, "# ") || strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "```") {
			return true
		}
	}
	return false
}

// URL ingests a web page or file; the worker fetches it through the SSRF guard (checked here
// first, so an obviously forbidden URL is a 400 at once).
func (s *Service) URL(ctx context.Context, c models.Caller, raw string, meta Meta) (*models.Document, *models.IngestionRun, bool, error) {
	u, err := s.Guard.CheckURL(raw)
	if err != nil {
		return nil, nil, false, models.Invalid("url", "this URL cannot be fetched: %v", err)
	}
	if err := meta.check(); err != nil {
		return nil, nil, false, err
	}
	doc := &models.Document{ID: uuid.New(), SourceKind: models.SourceURL, SourceURL: u.String(), Title: meta.Title}
	return s.create(ctx, c, doc, meta, u.String(), fingerprint(models.SourceURL, []byte(u.String()), "", meta))
}

// create records the document and its run and starts the workflow. With an Idempotency-Key the
// run id derives from the key, so concurrent retries meet on one row: the losers get the
// winner's run (created false), or errKeyReused when fp says they are another request.
func (s *Service) create(ctx context.Context, c models.Caller, doc *models.Document, meta Meta, sourceURL string, fp []byte) (*models.Document, *models.IngestionRun, bool, error) {
	doc.GroupID, doc.Tags, doc.Status = meta.GroupID, meta.Tags, models.DocPending
	if doc.Tags == nil {
		doc.Tags = []string{}
	}
	run := &models.IngestionRun{ID: uuid.New(), Status: models.RunQueued, IdempotencyKey: meta.IdempotencyKey, SourceURL: sourceURL}
	if meta.IdempotencyKey != nil {
		run.ID = uuid.NewSHA1(c.UserID, []byte("ingest/"+*meta.IdempotencyKey))
		run.RequestSHA256 = fp
	}
	run.WorkflowID = workflows.IngestID(run.ID.String())
	doc.WorkflowID = run.WorkflowID
	d, r, created, err := s.Store.CreateDocument(ctx, c, doc, run)
	if err != nil {
		return nil, nil, false, err
	}
	if err := s.resume(ctx, d, r, fp); err != nil {
		return nil, nil, false, err
	}
	return d, r, created, nil
}

// start starts the run's workflow; starting again is harmless (the id derives from the run).
// Search attributes and memo hold ids and the kind of source only, never the title or the URL.
func (s *Service) start(ctx context.Context, d *models.Document, r *models.IngestionRun) error {
	attrs := []temporal.SearchAttributeUpdate{
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrUserID).ValueSet(d.OwnerID.String()),
		temporal.NewSearchAttributeKeyKeyword(workflows.AttrDocument).ValueSet(d.ID.String()),
	}
	if d.GroupID != nil {
		attrs = append(attrs, temporal.NewSearchAttributeKeyKeyword(workflows.AttrGroupID).ValueSet(d.GroupID.String()))
	}
	opts := client.StartWorkflowOptions{
		ID:                    r.WorkflowID,
		TaskQueue:             s.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		Memo:                  map[string]any{"source": d.SourceKind},
	}
	err := workflows.Start(ctx, s.Temporal, opts, workflows.IngestDocument,
		workflows.IngestInput{RunID: r.ID, DocumentID: d.ID, OwnerID: d.OwnerID, Limits: s.Limits})
	if err == nil {
		return nil
	}
	failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.Store.FinishRun(failCtx, r.ID, d.ID, map[string]any{"status": models.RunFailed, "error_code": models.CodeTemporalUnavailable,
		"error_message": "the workflow service is unavailable; please retry"}, map[string]any{"status": models.DocFailed})
	return err
}

// Cancel asks a run to stop; it removes its partial vectors and marks the document cancelled.
func (s *Service) Cancel(ctx context.Context, c models.Caller, runID uuid.UUID) (*models.IngestionRun, error) {
	r, err := s.Store.IngestionRun(ctx, c, runID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.DocumentForChange(ctx, c, r.DocumentID); err != nil {
		return nil, err
	}
	if r.Finished() {
		return nil, models.Errorf(models.ErrConflict, "RUN_FINISHED", "the ingestion run has already finished")
	}
	return r, s.signalCancel(ctx, r)
}

func (s *Service) signalCancel(ctx context.Context, r *models.IngestionRun) error {
	if err := workflows.Signal(ctx, s.Temporal, r.WorkflowID, workflows.SignalCancelRun, nil); !errors.Is(err, workflows.ErrEnded) {
		return err
	}
	return nil
}

// Delete removes a document the caller may change: its runs are cancelled, its vectors, chunks,
// blobs and row deleted.
func (s *Service) Delete(ctx context.Context, c models.Caller, id uuid.UUID) (*models.Document, error) {
	d, err := s.Store.DocumentForChange(ctx, c, id)
	if err != nil {
		return nil, err
	}
	runs, err := s.Store.ActiveRuns(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if err := s.stopRuns(ctx, runs); err != nil {
		return nil, err
	}
	if err := s.Store.RemoveDocumentVectors(ctx, s.Vectors, s.EmbedModel, d.ID); err != nil {
		return nil, fmt.Errorf("remove vectors: %w", err)
	}
	if err := s.Store.DeleteDocument(ctx, d.ID); err != nil {
		return nil, err
	}
	if err := s.deleteBlobs(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteOwner removes what intake keeps for an account being deleted: the owner's runs are
// stopped, their vectors removed, the document bytes deleted, then deleteRows deletes the rows
// (the documents with the account). It returns how many documents the owner had. Every step is
// idempotent and the rows go last, so a retry after any failure (a crashed worker running the
// DeleteAccount workflow) finds what is left and finishes it.
func (s *Service) DeleteOwner(ctx context.Context, ownerID uuid.UUID, deleteRows func(context.Context) error) (int, error) {
	runs, err := s.Store.OwnerActiveRuns(ctx, ownerID)
	if err != nil {
		return 0, err
	}
	if err := s.stopRuns(ctx, runs); err != nil {
		return 0, err
	}
	docs, err := s.Store.OwnedDocuments(ctx, ownerID)
	if err != nil {
		return 0, err
	}
	if err := s.Vectors.DeleteOwner(ctx, ownerID); err != nil {
		return 0, fmt.Errorf("remove vectors: %w", err)
	}
	for i := range docs {
		if err := s.deleteBlobs(ctx, &docs[i]); err != nil {
			return 0, fmt.Errorf("delete the bytes of document %s: %w", docs[i].ID, err)
		}
	}
	if err := deleteRows(ctx); err != nil {
		return 0, err
	}
	return len(docs), nil
}

// stopRuns cancels runs and waits (up to 30 s each) for them to wind down, so that no activity
// writes vectors after they are removed.
func (s *Service) stopRuns(ctx context.Context, runs []models.IngestionRun) error {
	for i := range runs {
		if err := s.signalCancel(ctx, &runs[i]); err != nil {
			return err
		}
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_ = s.Temporal.GetWorkflow(waitCtx, runs[i].WorkflowID, "").Get(waitCtx, nil)
		cancel()
	}
	return nil
}

// deleteBlobs removes a deleted document's stored bytes (the original and the extracted text).
func (s *Service) deleteBlobs(ctx context.Context, d *models.Document) error {
	for _, b := range []*uuid.UUID{d.BlobID, d.ExtractedBlobID} {
		if b != nil {
			if err := s.Blobs.Delete(ctx, *b); err != nil {
				return err
			}
		}
	}
	return nil
}
