package store

import (
	"context"
	"strconv"

	"github.com/google/uuid"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
)

// OCRPageText binds the sealed OCR text of page of document docID.
func OCRPageText(docID uuid.UUID, page int) encryption.Binding {
	return encryption.Bind("document_ocr_pages", "text", docID.String(), strconv.Itoa(page))
}

// OCRPages returns the sealed text of the pages of a document OCRed so far, by page.
func (s *Store) OCRPages(ctx context.Context, documentID uuid.UUID) (map[int][]byte, error) {
	var rows []struct {
		Page int
		Text []byte
	}
	err := s.q(ctx).Raw(`SELECT page, text FROM document_ocr_pages WHERE document_id = ?`, documentID).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make(map[int][]byte, len(rows))
	for _, r := range rows {
		out[r.Page] = r.Text
	}
	return out, nil
}

// SaveOCRPage stores the sealed text of a document's page (a retry overwrites it) and appends
// events to the log of run runID, in one transaction: the events announcing a page never exist
// without it, nor it without them.
func (s *Store) SaveOCRPage(ctx context.Context, documentID uuid.UUID, page int, sealed []byte, runID uuid.UUID, events []models.Event) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Exec(`
INSERT INTO document_ocr_pages (document_id, page, text) VALUES (?, ?, ?)
ON CONFLICT (document_id, page) DO UPDATE SET text = excluded.text`, documentID, page, sealed).Error; err != nil {
			return err
		}
		_, err := tx.AppendEvents(ctx, RunLog, runID, events)
		return err
	})
}

// DeleteOCRPages removes the OCR kept for a document's run.
func (s *Store) DeleteOCRPages(ctx context.Context, documentID uuid.UUID) error {
	return translate(s.q(ctx).Exec(`DELETE FROM document_ocr_pages WHERE document_id = ?`, documentID).Error)
}
