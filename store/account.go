package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// OwnedDocuments returns every document a user owns (account export and deletion).
func (s *Store) OwnedDocuments(ctx context.Context, userID uuid.UUID) ([]models.Document, error) {
	var out []models.Document
	err := s.q(ctx).Where("owner_id = ?", userID).Order("created_at").Find(&out).Error
	return out, translate(err)
}

// OwnedSessions returns every session a user owns.
func (s *Store) OwnedSessions(ctx context.Context, userID uuid.UUID) ([]models.ChatSession, error) {
	var out []models.ChatSession
	err := s.q(ctx).Where("owner_id = ?", userID).Order("created_at").Find(&out).Error
	return out, translate(err)
}

// DocumentChunks returns a document's chunks in order (without embeddings).
func (s *Store) DocumentChunks(ctx context.Context, documentID uuid.UUID) ([]models.DocumentChunk, error) {
	var out []models.DocumentChunk
	err := s.q(ctx).Omit("embedding").Where("document_id = ?", documentID).Order("idx").Find(&out).Error
	return out, translate(err)
}

// UserToolRuns returns every tool run of a user.
func (s *Store) UserToolRuns(ctx context.Context, userID uuid.UUID) ([]models.ToolRun, error) {
	var out []models.ToolRun
	err := s.q(ctx).Where("user_id = ?", userID).Order("created_at").Find(&out).Error
	return out, translate(err)
}

// UserAPIKeys returns a user's API keys.
func (s *Store) UserAPIKeys(ctx context.Context, userID uuid.UUID) ([]models.APIKey, error) {
	var out []models.APIKey
	err := s.q(ctx).Where("user_id = ?", userID).Order("created_at").Find(&out).Error
	return out, translate(err)
}

// ActiveTurns lists a user's turns whose workflows still run.
func (s *Store) ActiveTurns(ctx context.Context, userID uuid.UUID) ([]models.Turn, error) {
	var out []models.Turn
	err := s.q(ctx).Where("user_id = ? AND status IN ?", userID, []string{models.TurnRunning, models.TurnWaitingApproval}).Find(&out).Error
	return out, translate(err)
}

// DeleteAccount deletes a user and everything they own (sessions, messages, turns, documents,
// chunks, runs, keys, tool servers) in one transaction. Groups where they are the only admin get a
// new admin (the longest-standing member), or are deleted when nobody else is in them. Group
// content owned by others stays. Blob bytes and vectors are the caller's to remove.
func (s *Store) DeleteAccount(ctx context.Context, userID uuid.UUID) error {
	return s.InTx(ctx, func(tx *Store) error {
		var sole []uuid.UUID
		err := tx.q(ctx).Raw(`
SELECT m.group_id FROM group_memberships m
WHERE m.user_id = ? AND m.role = 'admin'
  AND NOT EXISTS (SELECT 1 FROM group_memberships o WHERE o.group_id = m.group_id AND o.role = 'admin' AND o.user_id <> m.user_id)
FOR UPDATE`, userID).Scan(&sole).Error
		if err != nil {
			return err
		}
		for _, g := range sole {
			res := tx.q(ctx).Exec(`
UPDATE group_memberships SET role = 'admin'
WHERE group_id = ? AND user_id = (SELECT user_id FROM group_memberships WHERE group_id = ? AND user_id <> ? ORDER BY created_at, user_id LIMIT 1)`,
				g, g, userID)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				if err := tx.q(ctx).Exec(`DELETE FROM groups WHERE id = ?`, g).Error; err != nil {
					return err
				}
			}
		}
		return tx.q(ctx).Exec(`DELETE FROM users WHERE id = ?`, userID).Error
	})
}
