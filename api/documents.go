package api

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

type documentJSON struct {
	ID               uuid.UUID  `json:"id"`
	Title            string     `json:"title"`
	Status           string     `json:"status"`
	SourceKind       string     `json:"source_kind"`
	SourceURL        string     `json:"source_url,omitempty"`
	OriginalFilename string     `json:"original_filename,omitempty"`
	ContentType      string     `json:"content_type"`
	SizeBytes        int64      `json:"size_bytes"`
	SHA256           string     `json:"sha256,omitempty"`
	Tags             []string   `json:"tags"`
	GroupID          *uuid.UUID `json:"group_id"`
	IsOwner          bool       `json:"is_owner"`
	ChunkCount       int        `json:"chunk_count"`
	DuplicateOf      *uuid.UUID `json:"duplicate_of"`
	Error            string     `json:"error,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

func toDocumentJSON(c models.Caller, d *models.Document) documentJSON {
	out := documentJSON{ID: d.ID, Title: d.Title, Status: d.Status, SourceKind: d.SourceKind, SourceURL: d.SourceURL,
		OriginalFilename: d.OriginalFilename, ContentType: d.ContentType, SizeBytes: d.SizeBytes, Tags: []string(d.Tags),
		GroupID: d.GroupID, IsOwner: d.OwnerID == c.UserID, ChunkCount: d.ChunkCount, DuplicateOf: d.DuplicateOf,
		Error: d.Error, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if len(d.SHA256) > 0 {
		out.SHA256 = hex.EncodeToString(d.SHA256)
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

type runJSON struct {
	ID          uuid.UUID  `json:"id"`
	DocumentID  uuid.UUID  `json:"document_id"`
	WorkflowID  string     `json:"workflow_id"`
	Status      string     `json:"status"`
	Stage       string     `json:"stage"`
	ChunksDone  int        `json:"chunks_done"`
	ChunksTotal int        `json:"chunks_total"`
	Attempts    int        `json:"attempts"`
	Error       *errorJSON `json:"error"`
	EventsURL   string     `json:"events_url"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

func toRunJSON(r *models.IngestionRun) runJSON {
	out := runJSON{ID: r.ID, DocumentID: r.DocumentID, WorkflowID: r.WorkflowID, Status: r.Status, Stage: r.Stage,
		ChunksDone: r.ChunksDone, ChunksTotal: r.ChunksTotal, Attempts: max(r.Attempts, 1), StartedAt: r.StartedAt,
		FinishedAt: r.FinishedAt, CreatedAt: r.CreatedAt, EventsURL: "/v1/ingestion-runs/" + r.ID.String() + "/events"}
	if r.ErrorCode != "" {
		out.Error = &errorJSON{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	return out
}

// documentIntake is what the document handlers need of intake.Service (a fake in their tests).
type documentIntake interface {
	SpoolUpload(r io.Reader, filename string) (*intake.Spool, error)
	FromSpool(ctx context.Context, c models.Caller, sp *intake.Spool, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error)
	Text(ctx context.Context, c models.Caller, text string, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error)
	URL(ctx context.Context, c models.Caller, raw string, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error)
	Cancel(ctx context.Context, c models.Caller, runID uuid.UUID) (*models.IngestionRun, error)
	Delete(ctx context.Context, c models.Caller, id uuid.UUID) (*models.Document, error)
}

// ingestionJSON answers a request that started (or, under an idempotency key, found) an ingestion.
type ingestionJSON struct {
	DocumentID     uuid.UUID `json:"document_id"`
	IngestionRunID uuid.UUID `json:"ingestion_run_id"`
	Status         string    `json:"status"`
	EventsURL      string    `json:"events_url"`
}

func toIngestionJSON(d *models.Document, r *models.IngestionRun) ingestionJSON {
	return ingestionJSON{DocumentID: d.ID, IngestionRunID: r.ID, Status: r.Status,
		EventsURL: "/v1/ingestion-runs/" + r.ID.String() + "/events"}
}

func accepted(c *gin.Context, d *models.Document, r *models.IngestionRun, created bool) {
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	c.JSON(status, toIngestionJSON(d, r))
}

func idempotencyKey(c *gin.Context) (*string, error) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKey {
		return nil, models.Invalid("Idempotency-Key", "Idempotency-Key must be at most %d characters", maxIdempotencyKey)
	}
	return &key, nil
}

// uploadDocument streams a multipart upload (field `file`, optional `group_id`, `tags`, `title`)
// to a temporary file, refusing it as soon as it passes the cap, checks its type from its content
// and starts its ingestion.
func (s *Server) uploadDocument(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		s.fail(c, models.Errorf(models.ErrUnsupported, "UNSUPPORTED_MEDIA_TYPE", "upload with multipart/form-data and a `file` field"))
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.fail(c, models.Errorf(models.ErrInvalid, "MALFORMED_MULTIPART", "malformed multipart body"))
		return
	}
	var (
		spool   *intake.Spool
		meta    intake.Meta
		rawTags []string
	)
	defer func() { spool.Release() }()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.failUpload(c, err)
			return
		}
		switch part.FormName() {
		case "file":
			if spool != nil {
				s.fail(c, models.Invalid("file", "send one file per request"))
				return
			}
			if spool, err = s.intake.SpoolUpload(part, part.FileName()); err != nil {
				s.failUpload(c, err)
				return
			}
		case "group_id", "tags", "title":
			v, err := io.ReadAll(io.LimitReader(part, 2048))
			if err != nil {
				s.failUpload(c, err)
				return
			}
			switch part.FormName() {
			case "group_id":
				id, err := uuid.Parse(strings.TrimSpace(string(v)))
				if err != nil {
					s.fail(c, models.Invalid("group_id", "group_id must be a UUID"))
					return
				}
				meta.GroupID = &id
			case "tags":
				rawTags = append(rawTags, string(v))
			case "title":
				meta.Title = strings.TrimSpace(string(v))
			}
		default:
			s.fail(c, models.Invalid(part.FormName(), "unknown field %q", part.FormName()))
			return
		}
	}
	if spool == nil {
		s.fail(c, models.Invalid("file", "file is required"))
		return
	}
	if meta.Tags, err = intake.ParseTags(rawTags); err != nil {
		s.fail(c, err)
		return
	}
	if meta.IdempotencyKey, err = idempotencyKey(c); err != nil {
		s.fail(c, err)
		return
	}
	d, r, created, err := s.intake.FromSpool(ctx, caller, spool, meta)
	if err != nil {
		s.fail(c, err)
		return
	}
	accepted(c, d, r, created)
}

// failUpload answers an upload error; a body over the cap closes the connection instead of
// reading the rest.
func (s *Server) failUpload(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = models.Errorf(models.ErrTooLarge, "DOCUMENT_TOO_LARGE", "the upload exceeds %d bytes", s.cfg.MaxUploadBytes).
			WithDetails(map[string]any{"limit_bytes": s.cfg.MaxUploadBytes})
	}
	if errors.Is(err, models.ErrTooLarge) {
		c.Header("Connection", "close")
	}
	if _, ok := errors.AsType[*models.Error](err); !ok && !errors.Is(err, models.ErrTooLarge) {
		err = models.Errorf(models.ErrInvalid, "MALFORMED_MULTIPART", "the upload could not be read").Wrap(err)
	}
	s.fail(c, err)
}

type ingestRequest struct {
	URL     string     `json:"url" binding:"omitempty,max=2048"`
	Text    string     `json:"text"`
	Title   string     `json:"title"`
	GroupID *uuid.UUID `json:"group_id"`
	Tags    []string   `json:"tags" binding:"omitempty,max=20"`
}

// ingest starts the ingestion of a URL or an inline text.
func (s *Server) ingest(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	var req ingestRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	tags, err := intake.ParseTags(req.Tags)
	if err != nil {
		s.fail(c, err)
		return
	}
	key, err := idempotencyKey(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	meta := intake.Meta{Title: strings.TrimSpace(req.Title), GroupID: req.GroupID, Tags: tags, IdempotencyKey: key}
	var (
		d       *models.Document
		r       *models.IngestionRun
		created bool
	)
	switch {
	case req.URL != "" && req.Text != "":
		err = models.Invalid("url", "send either url or text, not both")
	case req.URL != "":
		d, r, created, err = s.intake.URL(ctx, caller, req.URL, meta)
	case req.Text != "":
		d, r, created, err = s.intake.Text(ctx, caller, req.Text, meta)
	default:
		err = models.Invalid("url", "url or text is required")
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	accepted(c, d, r, created)
}

func (s *Server) listDocuments(c *gin.Context) {
	caller := callerOf(c)
	page, err := pageOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.documentPage(c.Request.Context(), caller, page)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// documentPage is a page of the documents the caller can see, newest first (GET /v1/documents and
// the MCP tool list_documents).
func (s *Server) documentPage(ctx context.Context, caller models.Caller, page store.Page) (list[documentJSON], error) {
	docs, err := s.store.Documents(ctx, caller, page)
	if err != nil {
		return list[documentJSON]{}, err
	}
	docs, next := store.Trim(docs, page.Limit, func(d models.Document) store.Cursor { return store.Cursor{T: d.CreatedAt, ID: d.ID} })
	out := make([]documentJSON, 0, len(docs))
	for i := range docs {
		out = append(out, toDocumentJSON(caller, &docs[i]))
	}
	return newList(out, next), nil
}

func (s *Server) getDocument(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "DOCUMENT", "document")
	if err != nil {
		s.fail(c, err)
		return
	}
	d, err := s.store.Document(c.Request.Context(), caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toDocumentJSON(caller, d))
}

func (s *Server) deleteDocument(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "DOCUMENT", "document")
	if err != nil {
		s.fail(c, err)
		return
	}
	d, err := s.intake.Delete(c.Request.Context(), caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "document.delete", "document", d.ID.String(), map[string]any{"title": d.Title})
	c.Status(http.StatusNoContent)
}

func (s *Server) listRuns(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	runs, err := s.store.IngestionRuns(c.Request.Context(), callerOf(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	runs, next := store.Trim(runs, page.Limit, func(r models.IngestionRun) store.Cursor { return store.Cursor{T: r.CreatedAt, ID: r.ID} })
	out := make([]runJSON, 0, len(runs))
	for i := range runs {
		out = append(out, toRunJSON(&runs[i]))
	}
	c.JSON(http.StatusOK, newList(out, next))
}

func (s *Server) runFromPath(c *gin.Context) (*models.IngestionRun, error) {
	id, err := pathID(c, "id", "INGESTION_RUN", "ingestion run")
	if err != nil {
		return nil, err
	}
	return s.store.IngestionRun(c.Request.Context(), callerOf(c), id)
}

func (s *Server) getRun(c *gin.Context) {
	r, err := s.runFromPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toRunJSON(r))
}

func runTerminal(typ string) bool {
	return typ == models.EventRunCompleted || typ == models.EventRunFailed || typ == models.EventRunCancelled
}

func (s *Server) runEvents(c *gin.Context) {
	r, err := s.runFromPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	after, err := lastEventID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.streamEvents(c, store.RunLog, r.ID, after, nil, runTerminal)
}

func (s *Server) cancelRun(c *gin.Context) {
	id, err := pathID(c, "id", "INGESTION_RUN", "ingestion run")
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.intake.Cancel(c.Request.Context(), callerOf(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"ingestion_run_id": r.ID, "status": "cancelling"})
}

type searchRequest struct {
	Query       string      `json:"query" binding:"required,max=2000"`
	TopK        int         `json:"top_k" binding:"omitempty,min=1,max=50"`
	GroupID     *uuid.UUID  `json:"group_id"`
	DocumentIDs []uuid.UUID `json:"document_ids" binding:"omitempty,max=100"`
}

func (s *Server) search(c *gin.Context) {
	var req searchRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.searchKnowledge(c.Request.Context(), callerOf(c), knowledge.Request{Query: req.Query, TopK: req.TopK,
		GroupID: req.GroupID, DocumentIDs: req.DocumentIDs})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": res})
}

// searcher answers semantic searches (knowledge.Searcher; a fake in the handlers' tests).
type searcher interface {
	Search(ctx context.Context, c models.Caller, req knowledge.Request) ([]knowledge.Result, error)
}

// searchKnowledge is a semantic search of what the caller may read (POST /v1/search and the MCP
// tool knowledge_search); no result is an empty list.
func (s *Server) searchKnowledge(ctx context.Context, caller models.Caller, req knowledge.Request) ([]knowledge.Result, error) {
	res, err := s.searcher.Search(ctx, caller, req)
	if res == nil && err == nil {
		res = []knowledge.Result{}
	}
	return res, err
}
