package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// TestOCRPagesAreSavedWithTheirEvents: a page's OCR and its event are stored together, a retry
// overwrites the page without a second event, a page whose event cannot be stored is not kept,
// and the pages go when deleted.
func TestOCRPagesAreSavedWithTheirEvents(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	u := &models.User{Username: "u-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(ctx, u))
	doc, run := uuid.New(), uuid.New()
	_, err := st.SQL().Exec(`INSERT INTO documents (id, owner_id, title, source_kind, size_bytes, status) VALUES ($1, $2, 'scan', 'upload', 10, 'pending')`, doc, u.ID)
	require.NoError(t, err)
	_, err = st.SQL().Exec(`INSERT INTO ingestion_runs (id, document_id, owner_id, workflow_id, status) VALUES ($1, $2, $3, $4, 'running')`,
		run, doc, u.ID, "ingest/"+run.String())
	require.NoError(t, err)

	require.NoError(t, st.SaveOCRPage(ctx, doc, 1, []byte("first"), run, []models.Event{{Key: "ocr:1", Type: "progress", Data: []byte("e")}}))
	require.NoError(t, st.SaveOCRPage(ctx, doc, 1, []byte("again"), run, []models.Event{{Key: "ocr:1", Type: "progress", Data: []byte("e")}}))
	require.Error(t, st.SaveOCRPage(ctx, doc, 2, []byte("lost"), uuid.New(), []models.Event{{Key: "ocr:2", Type: "progress", Data: []byte("e")}}),
		"no such run")
	pages, err := st.OCRPages(ctx, doc)
	require.NoError(t, err)
	require.Equal(t, map[int][]byte{1: []byte("again")}, pages)
	var events int
	require.NoError(t, st.SQL().QueryRow(`SELECT count(*) FROM ingestion_events WHERE run_id = $1`, run).Scan(&events))
	require.Equal(t, 1, events)

	// Key rotation reseals the pages under the binding their writer used.
	var table store.SealedTable
	for _, tb := range store.SealedTables {
		if tb.Name == "document_ocr_pages" {
			table = tb
		}
	}
	var bound []string
	_, scanned, _, err := st.RekeyBatch(ctx, table, nil, 10, func(where encryption.Binding, _ []byte) ([]byte, bool, error) {
		bound = append(bound, where.String())
		return nil, false, nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, scanned)
	require.Equal(t, []string{store.OCRPageText(doc, 1).String()}, bound)

	require.NoError(t, st.DeleteOCRPages(ctx, doc))
	pages, err = st.OCRPages(ctx, doc)
	require.NoError(t, err)
	require.Empty(t, pages)
	require.Equal(t, "document_ocr_pages.text:"+doc.String()+"/3", store.OCRPageText(doc, 3).String())
}
