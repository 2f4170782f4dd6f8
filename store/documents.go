package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
	"github.com/youworker/youworker/vectors"
)

// ErrRunInProgress is the 409 for changing a document whose ingestion still runs.
var ErrRunInProgress = models.Errorf(models.ErrConflict, "INGESTION_IN_PROGRESS", "the document is still being ingested; cancel the run first")

// CreateDocument stores a pending document and its queued ingestion run for the caller. A group id
// must be one of the caller's groups. With an idempotency key that already names a run of this
// caller, that run and its document are returned with created=false.
func (s *Store) CreateDocument(ctx context.Context, c models.Caller, d *models.Document, r *models.IngestionRun) (*models.Document, *models.IngestionRun, bool, error) {
	if d.GroupID != nil && !policy.AllowGroup(c, *d.GroupID, policy.ShareToGroup) {
		return nil, nil, false, models.NotFound("GROUP", "group")
	}
	d.OwnerID, r.OwnerID, r.GroupID, r.DocumentID = c.UserID, c.UserID, d.GroupID, d.ID
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(d).Error; err != nil {
			return err
		}
		return tx.q(ctx).Omit("started_at", "finished_at").Create(r).Error
	})
	if errors.Is(err, models.ErrConflict) && r.IdempotencyKey != nil {
		if existing, kerr := s.RunByIdempotencyKey(ctx, c.UserID, *r.IdempotencyKey); kerr == nil {
			doc, derr := s.DocumentByID(ctx, existing.DocumentID)
			if derr != nil {
				return nil, nil, false, derr
			}
			return doc, existing, false, nil
		}
	}
	if err != nil {
		return nil, nil, false, err
	}
	return d, r, true, nil
}

// RunByIdempotencyKey returns the owner's run started under an Idempotency-Key.
func (s *Store) RunByIdempotencyKey(ctx context.Context, ownerID uuid.UUID, key string) (*models.IngestionRun, error) {
	var r models.IngestionRun
	if err := s.q(ctx).Where("owner_id = ? AND idempotency_key = ?", ownerID, key).Take(&r).Error; err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// ReadyDuplicate finds a ready document with the same content, the same owner and the same scope
// (the same group, or personal like d), other than d, if any. Only such a document can stand in
// for d: its chunks are visible to exactly the same people.
func (s *Store) ReadyDuplicate(ctx context.Context, d *models.Document) (*models.Document, error) {
	var dup models.Document
	err := s.q(ctx).Where("owner_id = ? AND group_id IS NOT DISTINCT FROM ? AND sha256 = ? AND status = ? AND duplicate_of IS NULL AND id <> ?",
		d.OwnerID, d.GroupID, d.SHA256, models.DocReady, d.ID).Order("created_at").Take(&dup).Error
	if err != nil {
		return nil, translate(err)
	}
	return &dup, nil
}

// Documents lists the documents the caller can see (theirs and their groups'), newest first.
func (s *Store) Documents(ctx context.Context, c models.Caller, page Page) ([]models.Document, error) {
	var out []models.Document
	err := s.q(ctx).Scopes(visibleTo(c, "documents"), page.after("created_at")).
		Order("created_at DESC, id DESC").Limit(page.Limit + 1).Find(&out).Error
	return out, translate(err)
}

// Document returns a document the caller can see.
func (s *Store) Document(ctx context.Context, c models.Caller, id uuid.UUID) (*models.Document, error) {
	var d models.Document
	if err := s.q(ctx).Scopes(visibleTo(c, "documents")).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, notFound(translate(err), "DOCUMENT", "document")
	}
	return &d, nil
}

// DocumentForChange returns a document the caller may change or delete (owner or group admin).
func (s *Store) DocumentForChange(ctx context.Context, c models.Caller, id uuid.UUID) (*models.Document, error) {
	d, err := s.Document(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !canModify(c, d.OwnerID, d.GroupID) {
		return nil, models.Errorf(models.ErrForbidden, "FORBIDDEN", "only the owner or a group admin may change this document")
	}
	return d, nil
}

// DeleteDocument deletes a document row with its chunks and runs (cascade).
func (s *Store) DeleteDocument(ctx context.Context, id uuid.UUID) error {
	return translate(s.q(ctx).Delete(&models.Document{}, "id = ?", id).Error)
}

// DocumentByID returns a document (worker side).
func (s *Store) DocumentByID(ctx context.Context, id uuid.UUID) (*models.Document, error) {
	var d models.Document
	if err := s.q(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, notFound(translate(err), "DOCUMENT", "document")
	}
	return &d, nil
}

// UpdateDocument sets fields of a document (worker side).
func (s *Store) UpdateDocument(ctx context.Context, id uuid.UUID, fields map[string]any) error {
	res := s.q(ctx).Model(&models.Document{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return models.NotFound("DOCUMENT", "document")
	}
	return nil
}

// IngestionRuns lists the runs the caller can see, newest first.
func (s *Store) IngestionRuns(ctx context.Context, c models.Caller, page Page) ([]models.IngestionRun, error) {
	var out []models.IngestionRun
	err := s.q(ctx).Scopes(visibleTo(c, "ingestion_runs"), page.after("created_at")).
		Order("created_at DESC, id DESC").Limit(page.Limit + 1).Find(&out).Error
	return out, translate(err)
}

// IngestionRun returns a run the caller can see.
func (s *Store) IngestionRun(ctx context.Context, c models.Caller, id uuid.UUID) (*models.IngestionRun, error) {
	var r models.IngestionRun
	if err := s.q(ctx).Scopes(visibleTo(c, "ingestion_runs")).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(translate(err), "INGESTION_RUN", "ingestion run")
	}
	return &r, nil
}

// RunByID returns a run (worker side).
func (s *Store) RunByID(ctx context.Context, id uuid.UUID) (*models.IngestionRun, error) {
	var r models.IngestionRun
	if err := s.q(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(translate(err), "INGESTION_RUN", "ingestion run")
	}
	return &r, nil
}

// ActiveRuns returns the unfinished runs of a document.
func (s *Store) ActiveRuns(ctx context.Context, documentID uuid.UUID) ([]models.IngestionRun, error) {
	return s.activeRuns(ctx, "document_id", documentID)
}

// OwnerActiveRuns lists the unfinished ingestion runs of an owner's documents.
func (s *Store) OwnerActiveRuns(ctx context.Context, ownerID uuid.UUID) ([]models.IngestionRun, error) {
	return s.activeRuns(ctx, "owner_id", ownerID)
}

// activeRuns lists unfinished runs by column (a constant of this package, never input).
func (s *Store) activeRuns(ctx context.Context, column string, id uuid.UUID) ([]models.IngestionRun, error) {
	var out []models.IngestionRun
	err := s.q(ctx).Where(column+" = ? AND status IN ?", id, []string{models.RunQueued, models.RunRunning}).Find(&out).Error
	return out, translate(err)
}

// UpdateRun sets fields of an unfinished run; a finished run is left alone.
func (s *Store) UpdateRun(ctx context.Context, id uuid.UUID, fields map[string]any) error {
	return translate(s.q(ctx).Model(&models.IngestionRun{}).
		Where("id = ? AND status IN ?", id, []string{models.RunQueued, models.RunRunning}).Updates(fields).Error)
}

// BeginRunStage marks an unfinished run running in stage; the first stage (fetch) also records
// when the run started, once (a retried stage keeps the first time).
func (s *Store) BeginRunStage(ctx context.Context, id uuid.UUID, stage string, at time.Time) error {
	fields := map[string]any{"status": models.RunRunning, "stage": stage}
	if stage == models.StageFetch {
		fields["started_at"] = gorm.Expr("coalesce(started_at, ?)", at)
	}
	return s.UpdateRun(ctx, id, fields)
}

// FinishRun records a run's terminal status and, in the same transaction, its document's.
func (s *Store) FinishRun(ctx context.Context, runID, documentID uuid.UUID, run, doc map[string]any) error {
	return s.InTx(ctx, func(tx *Store) error {
		run["finished_at"] = time.Now().UTC()
		if err := tx.q(ctx).Model(&models.IngestionRun{}).Where("id = ? AND status IN ?", runID,
			[]string{models.RunQueued, models.RunRunning}).Updates(run).Error; err != nil {
			return err
		}
		return tx.q(ctx).Model(&models.Document{}).Where("id = ?", documentID).Updates(doc).Error
	})
}

// ReplaceChunks stores a document's chunks, replacing any from an earlier attempt.
func (s *Store) ReplaceChunks(ctx context.Context, documentID uuid.UUID, chunks []models.DocumentChunk) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("document_id = ?", documentID).Delete(&models.DocumentChunk{}).Error; err != nil {
			return err
		}
		if len(chunks) == 0 {
			return nil
		}
		return tx.q(ctx).CreateInBatches(chunks, 500).Error
	})
}

// ChunksToEmbed returns the texts of chunks [from, to) that have no embedding yet, by index.
func (s *Store) ChunksToEmbed(ctx context.Context, documentID uuid.UUID, from, to int) ([]models.DocumentChunk, error) {
	var out []models.DocumentChunk
	err := s.q(ctx).Select("document_id, idx, text").
		Where("document_id = ? AND idx >= ? AND idx < ? AND embedding IS NULL", documentID, from, to).
		Order("idx").Find(&out).Error
	return out, translate(err)
}

// SaveEmbeddings stores embeddings of chunks (idx → little-endian float32s).
func (s *Store) SaveEmbeddings(ctx context.Context, documentID uuid.UUID, vectors map[int][]byte) error {
	if len(vectors) == 0 {
		return nil
	}
	idx := make(pgArray[int32], 0, len(vectors))
	vec := make(pgArray[[]byte], 0, len(vectors))
	for i, v := range vectors {
		idx = append(idx, int32(i))
		vec = append(vec, v)
	}
	return translate(s.q(ctx).Exec(`
UPDATE document_chunks c SET embedding = v.embedding, embedded_at = now()
FROM unnest(CAST(@idx AS int[]), CAST(@vec AS bytea[])) AS v(idx, embedding)
WHERE c.document_id = @doc AND c.idx = v.idx`, map[string]any{"idx": idx, "vec": vec, "doc": documentID}).Error)
}

// EmbeddedCount counts the chunks of a document that have an embedding.
func (s *Store) EmbeddedCount(ctx context.Context, documentID uuid.UUID) (int, error) {
	var n int64
	err := s.q(ctx).Model(&models.DocumentChunk{}).Where("document_id = ? AND embedding IS NOT NULL", documentID).Count(&n).Error
	return int(n), translate(err)
}

// ChunkEmbeddings returns chunks [from, to) with their embeddings.
func (s *Store) ChunkEmbeddings(ctx context.Context, documentID uuid.UUID, from, to int) ([]models.DocumentChunk, error) {
	var out []models.DocumentChunk
	err := s.q(ctx).Select("document_id, idx, embedding").
		Where("document_id = ? AND idx >= ? AND idx < ?", documentID, from, to).Order("idx").Find(&out).Error
	return out, translate(err)
}

// ChunkRef names one chunk.
type ChunkRef struct {
	DocumentID uuid.UUID
	Idx        int
}

// SearchChunk is a chunk with its document's title, for search results.
type SearchChunk struct {
	models.DocumentChunk
	Title   string
	OwnerID uuid.UUID
	GroupID *uuid.UUID
}

// VisibleChunks returns the given chunks of ready documents the caller can still see (read now:
// a member removed from a group stops seeing its documents on the next request).
func (s *Store) VisibleChunks(ctx context.Context, c models.Caller, refs []ChunkRef) ([]SearchChunk, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	docs := make(pgArray[string], len(refs))
	idx := make(pgArray[int32], len(refs))
	for i, r := range refs {
		docs[i], idx[i] = r.DocumentID.String(), int32(r.Idx)
	}
	groups := make(pgArray[string], 0, len(c.Groups))
	for _, g := range c.GroupIDs() {
		groups = append(groups, g.String())
	}
	var out []SearchChunk
	err := s.q(ctx).Raw(`
SELECT ch.document_id, ch.idx, ch.text, ch.token_count, ch.page, ch.heading_path, ch.start_offset, ch.end_offset,
       d.title, d.owner_id, d.group_id
FROM unnest(CAST(@docs AS uuid[]), CAST(@idx AS int[])) AS r(document_id, idx)
JOIN document_chunks ch ON ch.document_id = r.document_id AND ch.idx = r.idx
JOIN documents d ON d.id = ch.document_id
WHERE d.status = 'ready' AND (d.owner_id = @uid OR d.group_id = ANY (CAST(@groups AS uuid[])))`,
		map[string]any{"docs": docs, "idx": idx, "uid": c.UserID, "groups": groups}).Scan(&out).Error
	return out, translate(err)
}

// NoteRunAttempt raises a run's attempts counter to n (a retried stage).
func (s *Store) NoteRunAttempt(ctx context.Context, id uuid.UUID, n int) error {
	return translate(s.q(ctx).Exec(`UPDATE ingestion_runs SET attempts = GREATEST(attempts, ?) WHERE id = ?`, n, id).Error)
}

// EmbeddingDim is the dimension of a document's stored embeddings (0 when none is stored).
func (s *Store) EmbeddingDim(ctx context.Context, documentID uuid.UUID) (int, error) {
	var dim []int
	err := s.q(ctx).Raw(`SELECT length(embedding) / 4 FROM document_chunks WHERE document_id = ? AND embedding IS NOT NULL LIMIT 1`,
		documentID).Scan(&dim).Error
	if err != nil || len(dim) == 0 {
		return 0, translate(err)
	}
	return dim[0], nil
}

// RemoveDocumentVectors deletes a document's vectors from vs (their collection follows from the
// dimension of the stored embeddings; a document without any has none).
func (s *Store) RemoveDocumentVectors(ctx context.Context, vs vectors.Store, model string, documentID uuid.UUID) error {
	dim, err := s.EmbeddingDim(ctx, documentID)
	if err != nil || dim == 0 {
		return err
	}
	return vs.DeleteDocument(ctx, vectors.Collection{Model: model, Dim: dim}, documentID)
}
