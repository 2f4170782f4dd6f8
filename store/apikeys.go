package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// CreateAPIKey stores a key for the caller.
func (s *Store) CreateAPIKey(ctx context.Context, c models.Caller, k *models.APIKey) error {
	k.UserID = c.UserID
	if k.ID == uuid.Nil {
		k.ID = uuid.New()
	}
	return translate(s.q(ctx).Create(k).Error)
}

// APIKeys lists the caller's keys, newest first.
func (s *Store) APIKeys(ctx context.Context, c models.Caller, page Page) ([]models.APIKey, error) {
	var keys []models.APIKey
	q := s.q(ctx).Scopes(ownedBy(c, "user_id"), page.after("created_at")).Order("created_at DESC, id DESC").Limit(page.Limit + 1)
	if err := q.Find(&keys).Error; err != nil {
		return nil, translate(err)
	}
	return keys, nil
}

// RevokeAPIKey revokes one of the caller's keys. Another user's key is not found.
func (s *Store) RevokeAPIKey(ctx context.Context, c models.Caller, id uuid.UUID, now time.Time) (*models.APIKey, error) {
	var k models.APIKey
	err := s.q(ctx).Scopes(ownedBy(c, "user_id")).Where("id = ?", id).Take(&k).Error
	if err != nil {
		return nil, notFound(translate(err), "API_KEY", "API key")
	}
	if k.RevokedAt == nil {
		k.RevokedAt = &now
		if err := s.q(ctx).Model(&k).Update("revoked_at", now).Error; err != nil {
			return nil, translate(err)
		}
	}
	return &k, nil
}

// APIKeyForAuth finds a key by id for authentication (no caller yet); the caller of this method
// checks the secret, revocation and expiry.
func (s *Store) APIKeyForAuth(ctx context.Context, id uuid.UUID) (*models.APIKey, error) {
	var k models.APIKey
	if err := s.q(ctx).Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, notFound(translate(err), "API_KEY", "API key")
	}
	return &k, nil
}

// TouchAPIKey records use of a key, at most once a minute per key to keep requests read-only.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, now time.Time) error {
	return translate(s.q(ctx).Model(&models.APIKey{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, now.Add(-time.Minute)).
		Update("last_used_at", now).Error)
}
