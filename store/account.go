package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

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
// content owned by others stays, and its branches stay whole (relinkAround). Blob bytes and vectors are the caller's to remove.
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
		if err := tx.relinkAround(ctx, userID); err != nil {
			return err
		}
		return tx.q(ctx).Exec(`DELETE FROM users WHERE id = ?`, userID).Error
	})
}

// Snapshot runs fn in a read-only, repeatable-read transaction: every read inside sees the
// database as of the first one (an account export is one consistent picture, however long it
// takes to stream).
func (s *Store) Snapshot(ctx context.Context, fn func(tx *Store) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx})
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	return translate(err)
}

// MessagesAfter returns up to limit messages of a session after sequence number after, oldest
// first: a page of a session's whole history.
func (s *Store) MessagesAfter(ctx context.Context, sessionID uuid.UUID, after int64, limit int) ([]models.Message, error) {
	var out []models.Message
	err := s.q(ctx).Where("session_id = ? AND seq > ?", sessionID, after).Order("seq").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// DocumentChunksAfter returns up to limit chunks of a document after index after (-1 for the
// first page), in order, without their embeddings.
func (s *Store) DocumentChunksAfter(ctx context.Context, documentID uuid.UUID, after, limit int) ([]models.DocumentChunk, error) {
	var out []models.DocumentChunk
	err := s.q(ctx).Omit("embedding").Where("document_id = ? AND idx > ?", documentID, after).Order("idx").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// DisableUser locks an account out at once (the first step of deleting it): the user can no
// longer log in, and every login and API key stops working (the users trigger tells every API
// process to drop its cached caller). Idempotent: the first time stays.
func (s *Store) DisableUser(ctx context.Context, userID uuid.UUID, now time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Exec(`UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?`, now, userID).Error; err != nil {
			return err
		}
		return tx.q(ctx).Exec(`UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now, userID).Error
	})
}
