package activities

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/extract/fixtures"
	"github.com/youworker/youworker/models"
)

// newIngest returns the ingestion activities over a fresh database, with the given extractor,
// and a function that stores a pending upload of the given bytes for a new user.
func newIngest(t *testing.T, x *extract.Extractor) (*Ingest, func(media string, data []byte) RunRef) {
	t.Helper()
	st, box := newStoreAndBox(t)
	a := &Ingest{Store: st, Blobs: st.Blobs(""), Box: box, Extractor: x, TempDir: t.TempDir()}
	ctx := context.Background()
	u := &models.User{Username: "uploader"}
	require.NoError(t, st.CreateUser(ctx, u))
	upload := func(media string, data []byte) RunRef {
		blob, err := a.Blobs.Put(ctx, bytes.NewReader(data), media)
		require.NoError(t, err)
		doc := &models.Document{ID: uuid.New(), BlobID: &blob.ID, SourceKind: models.SourceUpload, ContentType: media,
			SizeBytes: blob.SizeBytes, SHA256: blob.SHA256, Status: models.DocPending, Tags: []string{}}
		run := &models.IngestionRun{ID: uuid.New(), Status: models.RunQueued, WorkflowID: uuid.NewString()}
		d, r, _, err := st.CreateDocument(ctx, models.Caller{UserID: u.ID}, doc, run)
		require.NoError(t, err)
		return RunRef{RunID: r.ID, DocumentID: d.ID, OwnerID: u.ID}
	}
	return a, upload
}

func runExtract(t *testing.T, a *Ingest, ref RunRef) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.Extract, ref)
	return err
}

// TestExtractBombsAreBadDocuments: a decompression bomb (PNG, DOCX, PDF) fails the extract stage
// with a non-retryable BAD_DOCUMENT that says which limit it hit.
func TestExtractBombsAreBadDocuments(t *testing.T) {
	t.Parallel()
	png, err := fixtures.PNGBomb(50000, 50000)
	require.NoError(t, err)
	docx, err := fixtures.DOCXBomb(250 << 20)
	require.NoError(t, err)
	pdf, err := fixtures.PDFBomb(128 << 20)
	require.NoError(t, err)
	a, upload := newIngest(t, extract.New(extract.Options{MaxMemory: 512 << 20, MaxCPU: time.Minute}))
	for _, tc := range []struct {
		name, media, wantMsg string
		data                 []byte
	}{
		{"png", extract.MediaPNG, "50000×50000 pixels", png},
		{"docx", extract.MediaDOCX, "word/document.xml is", docx},
		{"pdf", extract.MediaPDF, "pdftotext ran out of memory", pdf},
	} {
		start := time.Now()
		err := runExtract(t, a, upload(tc.media, tc.data))
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%s: %v", tc.name, err)
		require.Equal(t, ErrTypeBadDocument, appErr.Type(), tc.name)
		require.True(t, appErr.NonRetryable(), tc.name)
		require.Contains(t, appErr.Error(), tc.wantMsg, tc.name)
		require.Less(t, time.Since(start), time.Minute, tc.name)
	}
}

// TestExtractToolTroubleIsRetried: a missing tool is the worker's problem, not the document's:
// the activity fails with a retryable error.
func TestExtractToolTroubleIsRetried(t *testing.T) {
	t.Parallel()
	x := extract.New(extract.Options{Pdftotext: filepath.Join(t.TempDir(), "pdftotext"), MaxMemory: 512 << 20})
	a, upload := newIngest(t, x)
	pdf, err := fixtures.PDF(fixtures.PDFOptions{Pages: []string{"hello"}})
	require.NoError(t, err)
	err = runExtract(t, a, upload(extract.MediaPDF, pdf))
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "%v", err)
	}
}
