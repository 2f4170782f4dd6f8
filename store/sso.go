package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// SSOUser is who an identity provider says logged in.
type SSOUser struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Username, Name  string
	Groups          []string // nil = unknown: memberships are left alone
	ManagedGroups   []string // groups the provider controls: memberships of these not in Groups are removed
}

// UpsertSSOUser finds the user of (issuer, subject), links an existing account with the same
// verified email that has no SSO identity yet, or creates one with a free username; then syncs the
// group memberships the provider controls. Linking by email needs a verified email: an unverified
// one could take over someone's account.
func (s *Store) UpsertSSOUser(ctx context.Context, in SSOUser) (*models.User, error) {
	var u models.User
	err := s.q(ctx).Where("oidc_issuer = ? AND oidc_subject = ?", in.Issuer, in.Subject).Take(&u).Error
	switch {
	case err == nil:
		if u.DisabledAt != nil {
			return nil, models.Errorf(models.ErrForbidden, "ACCOUNT_DISABLED", "this account is disabled")
		}
	case errors.Is(translate(err), models.ErrNotFound):
		linked := false
		if in.Email != "" && in.EmailVerified {
			res := s.q(ctx).Model(&models.User{}).Where("email = ? AND oidc_subject IS NULL AND disabled_at IS NULL", in.Email).
				Updates(map[string]any{"oidc_issuer": in.Issuer, "oidc_subject": in.Subject})
			if res.Error != nil {
				return nil, translate(res.Error)
			}
			linked = res.RowsAffected == 1
		}
		if linked {
			if err := s.q(ctx).Where("oidc_issuer = ? AND oidc_subject = ?", in.Issuer, in.Subject).Take(&u).Error; err != nil {
				return nil, translate(err)
			}
			break
		}
		created, err := s.createSSOUser(ctx, in)
		if err != nil {
			return nil, err
		}
		u = *created
	default:
		return nil, translate(err)
	}
	if in.Groups != nil {
		if err := s.syncSSOGroups(ctx, u.ID, in.Groups, in.ManagedGroups); err != nil {
			return nil, err
		}
	}
	return &u, nil
}

func (s *Store) createSSOUser(ctx context.Context, in SSOUser) (*models.User, error) {
	iss, sub := in.Issuer, in.Subject
	var email *string
	if in.Email != "" && in.EmailVerified {
		email = &in.Email
	}
	for i := 0; i < 12; i++ {
		name := in.Username
		switch {
		case i > 0 && i < 10:
			name = fmt.Sprintf("%s-%d", in.Username, i+1)
		case i >= 10:
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			name = in.Username + "-" + hex.EncodeToString(b)
		}
		if len(name) > 64 {
			name = name[:64]
		}
		u := &models.User{ID: uuid.New(), Username: name, Email: email, DisplayName: in.Name, OIDCIssuer: &iss, OIDCSubject: &sub}
		err := s.CreateUser(ctx, u)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, models.ErrConflict) {
			return nil, err
		}
		email = nil // a taken email (unverified match) is not reused
	}
	return nil, models.Errorf(models.ErrConflict, "USERNAME_TAKEN", "no free username for this account")
}

// syncSSOGroups makes the user a member of each named group (creating groups that do not exist)
// and, for the managed groups, removes memberships the provider no longer lists. Admin roles are
// kept, and a group's last admin is never removed.
func (s *Store) syncSSOGroups(ctx context.Context, userID uuid.UUID, groups, managed []string) error {
	return s.InTx(ctx, func(tx *Store) error {
		want := map[string]bool{}
		for _, name := range groups {
			want[name] = true
			if err := tx.q(ctx).Exec(`INSERT INTO groups (id, name, description) VALUES (?, ?, 'synced from single sign-on')
				ON CONFLICT (name) DO NOTHING`, uuid.New(), name).Error; err != nil {
				return err
			}
			if err := tx.q(ctx).Exec(`INSERT INTO group_memberships (group_id, user_id, role)
				SELECT id, ?, 'member' FROM groups WHERE name = ? ON CONFLICT DO NOTHING`, userID, name).Error; err != nil {
				return err
			}
		}
		for _, name := range managed {
			if want[name] {
				continue
			}
			if err := tx.q(ctx).Exec(`DELETE FROM group_memberships m USING groups g
				WHERE m.group_id = g.id AND g.name = ? AND m.user_id = ?
				  AND (m.role <> 'admin' OR EXISTS (SELECT 1 FROM group_memberships o WHERE o.group_id = g.id AND o.role = 'admin' AND o.user_id <> m.user_id))`,
				name, userID).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
