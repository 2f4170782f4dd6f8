package api

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/models"
)

// fakeIntake stands in for intake.Service in the document handlers' tests.
type fakeIntake struct {
	texts, urls []string
	metas       []intake.Meta
	created     bool
	err         error
	deleted     []uuid.UUID
}

func (f *fakeIntake) result(meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error) {
	f.metas = append(f.metas, meta)
	if f.err != nil {
		return nil, nil, false, f.err
	}
	return &models.Document{ID: uuid.New()}, &models.IngestionRun{ID: uuid.New(), Status: models.RunQueued}, f.created, nil
}

func (f *fakeIntake) SpoolUpload(io.Reader, string) (*intake.Spool, error) { return nil, f.err }

func (f *fakeIntake) FromSpool(_ context.Context, _ models.Caller, _ *intake.Spool, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error) {
	return f.result(meta)
}

func (f *fakeIntake) Text(_ context.Context, _ models.Caller, text string, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error) {
	f.texts = append(f.texts, text)
	return f.result(meta)
}

func (f *fakeIntake) URL(_ context.Context, _ models.Caller, raw string, meta intake.Meta) (*models.Document, *models.IngestionRun, bool, error) {
	f.urls = append(f.urls, raw)
	return f.result(meta)
}

func (f *fakeIntake) Cancel(context.Context, models.Caller, uuid.UUID) (*models.IngestionRun, error) {
	return nil, f.err
}

func (f *fakeIntake) Delete(_ context.Context, _ models.Caller, id uuid.UUID) (*models.Document, error) {
	f.deleted = append(f.deleted, id)
	if f.err != nil {
		return nil, f.err
	}
	return &models.Document{ID: id, Title: "gone"}, nil
}

// POST /v1/ingest: text or url (not both, not neither) with its title, tags and Idempotency-Key
// handed to intake; 202 for a new run, 200 for one a key found; intake's errors in the envelope.
// DELETE /v1/documents/:id answers 204, or intake's error.
func TestDocumentHandlers(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, _ := e.signup("dora")
	f := &fakeIntake{created: true}
	e.srv.intake = f

	r := cl.do("POST", "/v1/ingest", map[string]any{"text": "notes", "title": "  Notes ", "tags": []string{"a, b", "c"}}, "Idempotency-Key", "k")
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	body := r.JSON(t)
	require.Equal(t, "queued", body["status"])
	require.Equal(t, "/v1/ingestion-runs/"+body["ingestion_run_id"].(string)+"/events", body["events_url"])
	require.Equal(t, []string{"notes"}, f.texts)
	key := "k"
	require.Equal(t, intake.Meta{Title: "Notes", Tags: []string{"a", "b", "c"}, IdempotencyKey: &key}, f.metas[0])

	f.created = false
	r = cl.do("POST", "/v1/ingest", map[string]any{"url": "https://example.org/a"})
	require.Equal(t, http.StatusOK, r.Status, "an earlier run")
	require.Equal(t, []string{"https://example.org/a"}, f.urls)

	for _, bad := range []map[string]any{{"text": "x", "url": "https://example.org"}, {"title": "nothing"}} {
		r = cl.do("POST", "/v1/ingest", bad)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", bad, r.Body)
	}
	require.Len(t, f.metas, 2, "refused requests never reach intake")

	f.err = models.Errorf(models.ErrForbidden, "FETCH_BLOCKED", "that address is not allowed")
	r = cl.do("POST", "/v1/ingest", map[string]any{"url": "http://169.254.169.254/"})
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "FETCH_BLOCKED", r.errCode(t))

	f.err = nil
	id := uuid.New()
	r = cl.do("DELETE", "/v1/documents/"+id.String(), nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	require.Equal(t, []uuid.UUID{id}, f.deleted)
	f.err = models.NotFound("DOCUMENT", "document")
	r = cl.do("DELETE", "/v1/documents/"+uuid.NewString(), nil)
	require.Equal(t, http.StatusNotFound, r.Status)
}
