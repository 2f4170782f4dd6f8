package activities

import (
	"context"
	"fmt"
	"sync"

	"go.temporal.io/sdk/activity"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// heartbeat is the detail an activity's heartbeats carry: none until an extraction OCRs pages,
// then its OCR progress. Prepare's keep-alive sends it every second, so that the latest progress
// stays the pending activity's detail.
type heartbeat struct {
	mu  sync.Mutex
	ocr *spec.OCRProgress
}

func (h *heartbeat) set(p spec.OCRProgress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ocr = &p
}

// record sends a heartbeat with the current detail.
func (h *heartbeat) record(ctx context.Context) {
	h.mu.Lock()
	p := h.ocr
	h.mu.Unlock()
	if p == nil {
		activity.RecordHeartbeat(ctx)
		return
	}
	activity.RecordHeartbeat(ctx, *p)
}

// ocrCheckpoint keeps the OCR of a run's scanned PDF pages in Postgres (document_ocr_pages,
// sealed), each page with a page event in the same transaction, so that an extract attempt that
// is cut short resumes at the next page. The event key names the attempt: a page OCRed twice (its
// first save lost) shows as two events.
type ocrCheckpoint struct {
	a       *Ingest
	ref     RunRef
	attempt int32
	beat    *heartbeat
}

func (c *ocrCheckpoint) OCRDone(ctx context.Context) (map[int]string, error) {
	sealed, err := c.a.Store.OCRPages(ctx, c.ref.DocumentID)
	if err != nil {
		return nil, err
	}
	out := make(map[int]string, len(sealed))
	for page, ct := range sealed {
		text, err := c.a.Box.Decrypt(store.OCRPageText(c.ref.DocumentID, page), ct)
		if err != nil {
			return nil, err
		}
		out[page] = string(text)
	}
	return out, nil
}

func (c *ocrCheckpoint) SaveOCR(ctx context.Context, p extract.OCRPage) error {
	sealed, err := c.a.Box.Encrypt(store.OCRPageText(c.ref.DocumentID, p.Page), []byte(p.Text))
	if err != nil {
		return err
	}
	ev := event{key: fmt.Sprintf("page:%d:%d", p.Page, c.attempt), typ: models.EventPage, data: map[string]any{
		"stage": models.StageExtract, "page": p.Page, "pages_done": p.Done, "pages_total": p.Total, "attempt": c.attempt}}
	rows, err := c.a.log().seal(c.ref.RunID, ev)
	if err != nil {
		return err
	}
	if err := c.a.Store.SaveOCRPage(ctx, c.ref.DocumentID, p.Page, sealed, c.ref.RunID, rows); err != nil {
		return err
	}
	c.beat.set(spec.OCRProgress{Stage: models.StageExtract, PagesDone: p.Done, PagesTotal: p.Total, LastPage: p.Page})
	c.beat.record(ctx)
	return nil
}
