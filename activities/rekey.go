package activities

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/store"
)

// Rekey re-encrypts data at rest with the first configured key, so older keys can be retired.
type Rekey struct {
	Store *store.Store
	Blobs *store.Blobs
	Box   *encryption.Box
}

type RekeyInput = spec.RekeyInput

type RekeyResult = spec.RekeyResult

// ReencryptBatch re-encrypts one batch: values sealed with an older key, and legacy values sealed
// before ciphertext was bound to its place (Fernet tokens), are opened and sealed again, bound,
// with the current key. Idempotent: a bound value on the current key is left alone.
func (a *Rekey) ReencryptBatch(ctx context.Context, in RekeyInput) (RekeyResult, error) {
	if in.Table == "document_blobs" {
		return a.reencryptBlobs(ctx, in)
	}
	for _, t := range store.SealedTables {
		if t.Name == in.Table {
			next, scanned, rewritten, err := a.Store.RekeyBatch(ctx, t, in.After, in.Limit, a.Box.Reseal)
			activity.RecordHeartbeat(ctx, scanned)
			return RekeyResult{Next: next, Scanned: scanned, Rewritten: rewritten}, err
		}
	}
	return RekeyResult{}, fmt.Errorf("unknown table %q", in.Table)
}

// reencryptBlobs rewrites the sealed extracted texts of documents (immutable blobs: a new blob
// replaces the old one).
func (a *Rekey) reencryptBlobs(ctx context.Context, in RekeyInput) (RekeyResult, error) {
	after := ""
	if len(in.After) == 1 {
		after = in.After[0]
	}
	ids, blobs, err := a.Store.ExtractedBlobs(ctx, after, in.Limit)
	if err != nil {
		return RekeyResult{}, err
	}
	res := RekeyResult{Scanned: len(ids)}
	for i := range ids {
		blobID, docID := uuid.MustParse(blobs[i]), uuid.MustParse(ids[i])
		var buf bytes.Buffer
		if _, err := a.Blobs.CopyTo(ctx, blobID, &buf); err != nil {
			return res, err
		}
		nct, changed, err := a.Box.Reseal(store.ExtractedText(docID), buf.Bytes())
		if err != nil {
			return res, fmt.Errorf("document %s: %w", docID, err)
		}
		if !changed {
			continue
		}
		nb, err := a.Blobs.Put(ctx, bytes.NewReader(nct), "application/vnd.youworker.extracted+fernet")
		if err != nil {
			return res, err
		}
		if err := a.Store.UpdateDocument(ctx, docID, map[string]any{"extracted_blob_id": nb.ID}); err != nil {
			return res, err
		}
		if err := a.Blobs.Delete(ctx, blobID); err != nil {
			return res, err
		}
		res.Rewritten++
		activity.RecordHeartbeat(ctx, i)
	}
	if len(ids) == in.Limit {
		res.Next = []string{ids[len(ids)-1]}
	}
	return res, nil
}
