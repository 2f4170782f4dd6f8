package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
)

// ErrLastAdmin is the 409 for removing or demoting a group's last admin.
var ErrLastAdmin = models.Errorf(models.ErrConflict, "LAST_ADMIN", "a group needs at least one admin; promote someone else first")

// CreateGroup creates a group with the caller as its admin.
func (s *Store) CreateGroup(ctx context.Context, c models.Caller, g *models.Group) error {
	g.ID, g.CreatedBy = uuid.New(), &c.UserID
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(g).Error; err != nil {
			return err
		}
		return tx.q(ctx).Create(&models.GroupMembership{GroupID: g.ID, UserID: c.UserID, Role: models.RoleAdmin}).Error
	})
	if errors.Is(err, models.ErrConflict) {
		return models.Errorf(models.ErrConflict, "GROUP_NAME_TAKEN", "a group with that name already exists").Wrap(err)
	}
	return err
}

// Group returns a group the caller may see (a member); others are not found.
func (s *Store) Group(ctx context.Context, c models.Caller, id uuid.UUID) (*models.Group, error) {
	if !policy.AllowGroup(c, id, policy.ViewGroup) {
		return nil, models.NotFound("GROUP", "group")
	}
	var g models.Group
	if err := s.q(ctx).Where("id = ?", id).Take(&g).Error; err != nil {
		return nil, notFound(translate(err), "GROUP", "group")
	}
	return &g, nil
}

// groupFor returns a group for an action the caller must be allowed: members who may not are
// forbidden, others find nothing.
func (s *Store) groupFor(ctx context.Context, c models.Caller, id uuid.UUID, a policy.Action) (*models.Group, error) {
	g, err := s.Group(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !policy.AllowGroup(c, id, a) {
		return nil, models.Errorf(models.ErrForbidden, "GROUP_ADMIN_REQUIRED", "only a group admin may do this")
	}
	return g, nil
}

// GroupMember is a member with their name.
type GroupMember struct {
	UserID   uuid.UUID
	Username string
	Role     models.Role
}

// GroupMembers lists a group's members by name.
func (s *Store) GroupMembers(ctx context.Context, groupID uuid.UUID) ([]GroupMember, error) {
	var out []GroupMember
	err := s.q(ctx).Table("group_memberships m").Select("m.user_id, u.username, m.role").
		Joins("JOIN users u ON u.id = m.user_id").Where("m.group_id = ?", groupID).Order("u.username").Scan(&out).Error
	return out, translate(err)
}

// UpdateGroup renames or redescribes a group (admins).
func (s *Store) UpdateGroup(ctx context.Context, c models.Caller, id uuid.UUID, name, description *string) (*models.Group, error) {
	g, err := s.groupFor(ctx, c, id, policy.ManageGroup)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{}
	if name != nil {
		fields["name"] = *name
	}
	if description != nil {
		fields["description"] = *description
	}
	if len(fields) > 0 {
		err := translate(s.q(ctx).Model(g).Updates(fields).Error)
		if errors.Is(err, models.ErrConflict) {
			return nil, models.Errorf(models.ErrConflict, "GROUP_NAME_TAKEN", "a group with that name already exists").Wrap(err)
		}
		if err != nil {
			return nil, err
		}
	}
	return s.Group(ctx, c, id)
}

// DeleteGroup deletes a group (admins). What members shared stays with its owners.
func (s *Store) DeleteGroup(ctx context.Context, c models.Caller, id uuid.UUID) error {
	if _, err := s.groupFor(ctx, c, id, policy.ManageGroup); err != nil {
		return err
	}
	return translate(s.q(ctx).Delete(&models.Group{}, "id = ?", id).Error)
}

// AddMember adds a user to a group (admins); already a member is a conflict.
func (s *Store) AddMember(ctx context.Context, c models.Caller, groupID, userID uuid.UUID, role models.Role) error {
	if _, err := s.groupFor(ctx, c, groupID, policy.ManageMembers); err != nil {
		return err
	}
	err := translate(s.q(ctx).Create(&models.GroupMembership{GroupID: groupID, UserID: userID, Role: role}).Error)
	if errors.Is(err, models.ErrConflict) {
		return models.Errorf(models.ErrConflict, "ALREADY_MEMBER", "that user is already a member").Wrap(err)
	}
	return err
}

// SetMemberRole changes a member's role (admins); the last admin cannot be demoted.
func (s *Store) SetMemberRole(ctx context.Context, c models.Caller, groupID, userID uuid.UUID, role models.Role) error {
	if _, err := s.groupFor(ctx, c, groupID, policy.ManageMembers); err != nil {
		return err
	}
	return s.InTx(ctx, func(tx *Store) error {
		m, err := tx.lockMembers(ctx, groupID, userID)
		if err != nil {
			return err
		}
		if m.Role == models.RoleAdmin && role != models.RoleAdmin && tx.adminCount(ctx, groupID) <= 1 {
			return ErrLastAdmin
		}
		return tx.q(ctx).Model(&models.GroupMembership{}).Where("group_id = ? AND user_id = ?", groupID, userID).Update("role", role).Error
	})
}

// RemoveMember removes a member (admins, or the member themselves leaving); the last admin cannot
// leave while others remain.
func (s *Store) RemoveMember(ctx context.Context, c models.Caller, groupID, userID uuid.UUID) error {
	action := policy.ManageMembers
	if userID == c.UserID {
		action = policy.ViewGroup // leaving needs only membership
	}
	if _, err := s.groupFor(ctx, c, groupID, action); err != nil {
		return err
	}
	return s.InTx(ctx, func(tx *Store) error {
		m, err := tx.lockMembers(ctx, groupID, userID)
		if err != nil {
			return err
		}
		if m.Role == models.RoleAdmin && tx.adminCount(ctx, groupID) <= 1 {
			return ErrLastAdmin
		}
		return tx.q(ctx).Where("group_id = ? AND user_id = ?", groupID, userID).Delete(&models.GroupMembership{}).Error
	})
}

// lockMembers locks a group's memberships (so concurrent changes cannot both remove "the other"
// admin) and returns the target's.
func (s *Store) lockMembers(ctx context.Context, groupID, userID uuid.UUID) (*models.GroupMembership, error) {
	var all []models.GroupMembership
	if err := s.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("group_id = ?", groupID).Find(&all).Error; err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].UserID == userID {
			return &all[i], nil
		}
	}
	return nil, models.NotFound("MEMBER", "member")
}

func (s *Store) adminCount(ctx context.Context, groupID uuid.UUID) int64 {
	var n int64
	s.q(ctx).Model(&models.GroupMembership{}).Where("group_id = ? AND role = ?", groupID, models.RoleAdmin).Count(&n)
	return n
}

// GroupAudit lists a group's audit entries, newest first (admins).
func (s *Store) GroupAudit(ctx context.Context, c models.Caller, groupID uuid.UUID, page AuditPage) ([]models.AuditEntry, error) {
	if _, err := s.groupFor(ctx, c, groupID, policy.ViewAudit); err != nil {
		return nil, err
	}
	return s.audit(ctx, "group_id = ?", groupID, page)
}

// AccountAudit lists the caller's own audit entries, newest first.
func (s *Store) AccountAudit(ctx context.Context, c models.Caller, page AuditPage) ([]models.AuditEntry, error) {
	return s.audit(ctx, "actor_id = ?", c.UserID, page)
}

// AuditPage pages the audit log by id.
type AuditPage struct {
	Limit  int
	Before int64 // 0 = newest
}

func (s *Store) audit(ctx context.Context, where string, arg any, page AuditPage) ([]models.AuditEntry, error) {
	q := s.q(ctx).Where(where, arg)
	if page.Before > 0 {
		q = q.Where("id < ?", page.Before)
	}
	var out []models.AuditEntry
	err := q.Order("id DESC").Limit(page.Limit + 1).Find(&out).Error
	return out, translate(err)
}

// UserIDByName finds a user id by username (adding members by name).
func (s *Store) UserIDByName(ctx context.Context, username string) (uuid.UUID, error) {
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return uuid.Nil, err
	}
	return u.ID, nil
}
