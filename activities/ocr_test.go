package activities

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/extract/fixtures"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// TestExtractKeepsScannedPagesForTheRetry: extracting a scanned PDF keeps every OCRed page (sealed)
// with a page event; a repeated extraction takes the pages kept instead of OCRing them again and
// OCRs only the missing one; finishing the run drops the pages kept.
func TestExtractKeepsScannedPagesForTheRetry(t *testing.T) {
	t.Parallel()
	a, upload := newIngest(t, extract.New(extract.Options{MaxMemory: 1 << 30}))
	ctx := context.Background()
	pdf, err := fixtures.ScannedPDF([]string{"Zebras graze near quiet lagoons", "Walruses sunbathe on pebbly beaches", "Otters juggle smooth stones"})
	require.NoError(t, err)
	ref := upload(extract.MediaPDF, pdf)

	require.NoError(t, runExtract(t, a, ref))
	evs, err := a.Store.EventsAfter(ctx, store.RunLog, ref.RunID, 0, 100)
	require.NoError(t, err)
	var pages []int
	for _, e := range evs {
		require.Equal(t, models.EventPage, e.Type)
		raw, err := a.Box.Decrypt(store.RunLog.EventData(ref.RunID, e.Key), e.Data)
		require.NoError(t, err)
		var d struct {
			Stage      string `json:"stage"`
			Page       int    `json:"page"`
			PagesDone  int    `json:"pages_done"`
			PagesTotal int    `json:"pages_total"`
		}
		require.NoError(t, json.Unmarshal(raw, &d))
		require.Equal(t, models.StageExtract, d.Stage)
		require.Equal(t, len(pages)+1, d.PagesDone)
		require.Equal(t, 3, d.PagesTotal)
		pages = append(pages, d.Page)
	}
	require.Equal(t, []int{1, 2, 3}, pages)
	kept, err := a.Store.OCRPages(ctx, ref.DocumentID)
	require.NoError(t, err)
	require.Len(t, kept, 3)
	require.NotContains(t, string(kept[1]), "Zebras", "sealed")

	// A page 1 that the first attempt read differently, and page 3 lost with the worker.
	planted, err := a.Box.Encrypt(store.OCRPageText(ref.DocumentID, 1), []byte("Planted flamingo text"))
	require.NoError(t, err)
	_, err = a.Store.SQL().Exec(`UPDATE document_ocr_pages SET text = $1 WHERE document_id = $2 AND page = 1`, planted, ref.DocumentID)
	require.NoError(t, err)
	_, err = a.Store.SQL().Exec(`DELETE FROM document_ocr_pages WHERE document_id = $1 AND page = 3`, ref.DocumentID)
	require.NoError(t, err)
	require.NoError(t, runExtract(t, a, ref))
	n, err := a.Chunk(ctx, ref)
	require.NoError(t, err)
	require.Positive(t, n)
	var text string
	require.NoError(t, a.Store.SQL().QueryRow(`SELECT string_agg(text, ' ' ORDER BY idx) FROM document_chunks WHERE document_id = $1`, ref.DocumentID).Scan(&text))
	require.Contains(t, text, "Planted flamingo text", "page 1 came from the checkpoint")
	require.NotContains(t, strings.ToLower(text), "zebras")
	require.Contains(t, strings.ToLower(text), "otters juggle", "page 3 was OCRed again")

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err = env.ExecuteLocalActivity(a.FinishRun, FinishRunInput{RunRef: ref, Status: models.RunFailed, ErrorCode: "X", Message: "x"})
	require.NoError(t, err)
	kept, err = a.Store.OCRPages(ctx, ref.DocumentID)
	require.NoError(t, err)
	require.Empty(t, kept)
}
