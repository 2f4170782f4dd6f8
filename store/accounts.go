package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/youworker/youworker/models"
)

// CreateUser inserts u. A taken username or email is a USERNAME_TAKEN conflict.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if u.ID == uuid.Nil {
		u.ID = uuid.New()
	}
	err := translate(s.q(ctx).Create(u).Error)
	if errors.Is(err, models.ErrConflict) {
		return models.Errorf(models.ErrConflict, "USERNAME_TAKEN", "that username or email is already registered").Wrap(err)
	}
	return err
}

// UserByUsername finds an enabled user by username (case-insensitive).
func (s *Store) UserByUsername(ctx context.Context, username string) (*models.User, error) {
	var u models.User
	err := s.q(ctx).Where("username = ? AND disabled_at IS NULL", username).Take(&u).Error
	if err != nil {
		return nil, notFound(translate(err), "USER", "user")
	}
	return &u, nil
}

// UserByID finds an enabled user.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (*models.User, error) {
	var u models.User
	err := s.q(ctx).Where("id = ? AND disabled_at IS NULL", id).Take(&u).Error
	if err != nil {
		return nil, notFound(translate(err), "USER", "user")
	}
	return &u, nil
}

// TouchLogin records a successful login.
func (s *Store) TouchLogin(ctx context.Context, userID uuid.UUID, at time.Time) error {
	return translate(s.q(ctx).Model(&models.User{}).Where("id = ?", userID).Update("last_login_at", at).Error)
}

// Memberships returns the user's role in every group they belong to.
func (s *Store) Memberships(ctx context.Context, userID uuid.UUID) (map[uuid.UUID]models.Role, error) {
	var rows []models.GroupMembership
	if err := s.q(ctx).Where("user_id = ?", userID).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make(map[uuid.UUID]models.Role, len(rows))
	for _, r := range rows {
		out[r.GroupID] = r.Role
	}
	return out, nil
}

// GroupRole is a group with the caller's role in it.
type GroupRole struct {
	models.Group
	Role models.Role
}

// GroupsOf lists the groups of a user with their role, by name.
func (s *Store) GroupsOf(ctx context.Context, userID uuid.UUID) ([]GroupRole, error) {
	var rows []GroupRole
	err := s.q(ctx).Table("groups g").
		Select("g.*, m.role").
		Joins("JOIN group_memberships m ON m.group_id = g.id").
		Where("m.user_id = ?", userID).
		Order("g.name").Scan(&rows).Error
	return rows, translate(err)
}

// CallerState is what authentication needs to know on every request, read fresh each time so
// that revocations and membership changes take effect on the next request.
type CallerState struct {
	User          *models.User
	Groups        map[uuid.UUID]models.Role
	SessionActive bool
}

// LoadCaller reads, in one round trip, the user, their memberships and, when sessionID is set,
// whether that login (refresh-token family) is still active.
func (s *Store) LoadCaller(ctx context.Context, userID, sessionID uuid.UUID) (CallerState, error) {
	var row struct {
		models.User
		Memberships   string
		SessionActive bool
	}
	err := s.q(ctx).Raw(`
SELECT u.*,
       coalesce((SELECT json_agg(json_build_object('g', m.group_id, 'r', m.role)) FROM group_memberships m WHERE m.user_id = u.id), '[]') AS memberships,
       EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = @sid AND r.user_id = u.id
               AND r.revoked_at IS NULL AND r.expires_at > now()) AS session_active
FROM users u WHERE u.id = @uid AND u.disabled_at IS NULL`, map[string]any{"uid": userID, "sid": sessionID}).Scan(&row).Error
	if err != nil {
		return CallerState{}, translate(err)
	}
	if row.ID == uuid.Nil {
		return CallerState{}, models.NotFound("USER", "user")
	}
	var ms []struct {
		G uuid.UUID   `json:"g"`
		R models.Role `json:"r"`
	}
	if err := json.Unmarshal([]byte(row.Memberships), &ms); err != nil {
		return CallerState{}, fmt.Errorf("decode memberships: %w", err)
	}
	st := CallerState{User: &row.User, Groups: make(map[uuid.UUID]models.Role, len(ms)), SessionActive: row.SessionActive}
	for _, m := range ms {
		st.Groups[m.G] = m.R
	}
	return st, nil
}

// CreateRefreshToken stores a new refresh token (the first of a family at login).
func (s *Store) CreateRefreshToken(ctx context.Context, t *models.RefreshToken) error {
	if t.ID == uuid.Nil {
		t.ID = uuid.New()
	}
	return translate(s.q(ctx).Create(t).Error)
}

// ErrRefreshReused is returned by RotateRefreshToken when a token that was already rotated or
// revoked is presented again: the whole family has been revoked.
var ErrRefreshReused = models.Errorf(models.ErrUnauthenticated, "REFRESH_TOKEN_REUSED", "refresh token is no longer valid")

// RotateRefreshToken exchanges the token with hash oldHash for next (same family). A revoked
// token revokes its whole family and fails with ErrRefreshReused; an unknown or expired one fails
// with an unauthenticated error.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next *models.RefreshToken, now time.Time) (*models.RefreshToken, error) {
	var old models.RefreshToken
	var reused bool
	err := s.InTx(ctx, func(tx *Store) error {
		err := tx.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("token_hash = ?", oldHash).Take(&old).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return invalidRefresh()
		}
		if err != nil {
			return err
		}
		if old.RevokedAt != nil {
			reused = true
			return tx.revokeFamily(ctx, old.FamilyID, now)
		}
		if !old.ExpiresAt.After(now) {
			return invalidRefresh()
		}
		next.ID = uuid.New()
		next.UserID = old.UserID
		next.FamilyID = old.FamilyID
		next.AuthTime = old.AuthTime
		if err := tx.q(ctx).Create(next).Error; err != nil {
			return err
		}
		return tx.q(ctx).Model(&models.RefreshToken{}).Where("id = ?", old.ID).
			Updates(map[string]any{"revoked_at": now, "replaced_by": next.ID}).Error
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, ErrRefreshReused
	}
	return &old, nil
}

func invalidRefresh() error {
	return models.Errorf(models.ErrUnauthenticated, "INVALID_REFRESH_TOKEN", "refresh token is invalid or expired")
}

// RenewAuthTime records that the user of a login has just proved who they are again
// (reauthentication): the login's live refresh token, and those it rotates into, carry at.
func (s *Store) RenewAuthTime(ctx context.Context, familyID uuid.UUID, at time.Time) error {
	res := s.q(ctx).Model(&models.RefreshToken{}).Where("family_id = ? AND revoked_at IS NULL AND expires_at > ?", familyID, at).
		Update("auth_time", at)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.ErrUnauthenticated, "SESSION_ENDED", "this login has ended; log in again")
	}
	return nil
}

// RevokeFamily revokes every token of a login (logout).
func (s *Store) RevokeFamily(ctx context.Context, familyID uuid.UUID, now time.Time) error {
	return translate(s.revokeFamily(ctx, familyID, now))
}

func (s *Store) revokeFamily(ctx context.Context, familyID uuid.UUID, now time.Time) error {
	return s.q(ctx).Model(&models.RefreshToken{}).
		Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now).Error
}

// RefreshTokenByHash finds a refresh token regardless of state (logout of a rotated cookie).
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (*models.RefreshToken, error) {
	var t models.RefreshToken
	if err := s.q(ctx).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// Audit appends an entry to the audit log.
func (s *Store) Audit(ctx context.Context, e *models.AuditEntry) error {
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	return translate(s.q(ctx).Omit("id").Create(e).Error)
}

// notFound turns a generic not-found into the object's own code; other errors pass unchanged.
func notFound(err error, code, what string) error {
	if errors.Is(err, models.ErrNotFound) {
		return models.NotFound(code, what).Wrap(err)
	}
	return err
}
