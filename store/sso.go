package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

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
// email that has no SSO identity yet, or creates one with a free username; then syncs the group
// memberships the provider controls. Linking by email needs the email verified on both sides: by
// the provider (EmailVerified) and on the account (EmailVerifiedAt). Whoever registers an address
// locally has not shown it is theirs, so a local account never receives someone's SSO login: that
// would hand the provider's user (and their synced groups) to whoever registered first. Such an
// account is linked only explicitly, by its logged-in user (LinkSSOIdentity).
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
			res := s.q(ctx).Model(&models.User{}).
				Where("email = ? AND email_verified_at IS NOT NULL AND oidc_subject IS NULL AND disabled_at IS NULL", in.Email).
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

// createSSOUser creates the user of a provider identity. A verified email is kept as verified;
// when an account holds the same address unverified, that account loses it: an unverified address
// is only a claim, and the provider has just shown whose it is.
func (s *Store) createSSOUser(ctx context.Context, in SSOUser) (*models.User, error) {
	iss, sub := in.Issuer, in.Subject
	var email *string
	var verifiedAt *time.Time
	if in.Email != "" && in.EmailVerified {
		if err := s.q(ctx).Model(&models.User{}).Where("email = ? AND email_verified_at IS NULL", in.Email).
			Update("email", nil).Error; err != nil {
			return nil, translate(err)
		}
		now := time.Now().UTC()
		email, verifiedAt = &in.Email, &now
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
		u := &models.User{ID: uuid.New(), Username: name, Email: email, EmailVerifiedAt: verifiedAt, DisplayName: in.Name,
			OIDCIssuer: &iss, OIDCSubject: &sub}
		err := s.CreateUser(ctx, u)
		if err == nil {
			return u, nil
		}
		if !errors.Is(err, models.ErrConflict) {
			return nil, err
		}
		email, verifiedAt = nil, nil // the email is another account's verified one (or the username is taken)
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

// LinkSSOIdentity links a provider identity to the account of userID, whose user asked for it
// while logged in (and has just signed in at the provider). The identity of another account is a
// SSO_IDENTITY_TAKEN conflict; an account linked to another identity is SSO_ALREADY_LINKED;
// linking the same identity again changes nothing. When the provider vouches for the account's own
// email, the email becomes verified. The provider's groups are synced as at a login.
func (s *Store) LinkSSOIdentity(ctx context.Context, userID uuid.UUID, in SSOUser) (*models.User, error) {
	taken := models.Errorf(models.ErrConflict, "SSO_IDENTITY_TAKEN", "this single sign-on identity belongs to another account")
	var u models.User
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ? AND disabled_at IS NULL", userID).Take(&u).Error; err != nil {
			return notFound(translate(err), "USER", "user")
		}
		if u.OIDCSubject != nil {
			if *u.OIDCIssuer == in.Issuer && *u.OIDCSubject == in.Subject {
				return nil
			}
			return models.Errorf(models.ErrConflict, "SSO_ALREADY_LINKED", "this account is linked to another single sign-on identity")
		}
		var others int64
		if err := tx.q(ctx).Model(&models.User{}).Where("oidc_issuer = ? AND oidc_subject = ?", in.Issuer, in.Subject).
			Count(&others).Error; err != nil {
			return translate(err)
		}
		if others > 0 {
			return taken
		}
		set := map[string]any{"oidc_issuer": in.Issuer, "oidc_subject": in.Subject}
		if in.EmailVerified && in.Email != "" && u.Email != nil && strings.EqualFold(*u.Email, in.Email) && u.EmailVerifiedAt == nil {
			set["email_verified_at"] = time.Now().UTC()
		}
		if err := tx.q(ctx).Model(&u).Updates(set).Error; err != nil {
			if err := translate(err); errors.Is(err, models.ErrConflict) {
				return taken.Wrap(err)
			}
			return translate(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if in.Groups != nil {
		if err := s.syncSSOGroups(ctx, u.ID, in.Groups, in.ManagedGroups); err != nil {
			return nil, err
		}
	}
	return s.UserByID(ctx, userID)
}
