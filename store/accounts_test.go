package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func ptr[T any](v T) *T { return &v }

// Someone who registers a victim's address locally first must not receive the victim's first SSO
// login: a local email is unverified, so the login makes a new account, takes the address (the
// provider verified it) and the provider's groups go to the new account alone.
func TestSSOLoginNeverLinksAnUnverifiedEmail(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	mallory := &models.User{Username: "mallory", Email: ptr("victim@corp.example")}
	require.NoError(t, st.CreateUser(ctx, mallory))

	victim, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "v-1", Email: "victim@corp.example",
		EmailVerified: true, Username: "victim", Groups: []string{"finance"}})
	require.NoError(t, err)
	require.NotEqual(t, mallory.ID, victim.ID, "a new account, not mallory's")
	require.Equal(t, "victim", victim.Username)
	require.Equal(t, "victim@corp.example", *victim.Email)
	require.NotNil(t, victim.EmailVerifiedAt)

	m, err := st.UserByID(ctx, mallory.ID)
	require.NoError(t, err)
	require.Nil(t, m.OIDCSubject, "mallory's account got no SSO identity")
	require.Nil(t, m.Email, "the unverified claim on the address is gone")
	groups, err := st.Memberships(ctx, mallory.ID)
	require.NoError(t, err)
	require.Empty(t, groups, "the victim's synced groups never reach mallory")
	groups, err = st.Memberships(ctx, victim.ID)
	require.NoError(t, err)
	require.Len(t, groups, 1)

	again, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "v-1", Email: "victim@corp.example",
		EmailVerified: true, Username: "victim"})
	require.NoError(t, err)
	require.Equal(t, victim.ID, again.ID, "the next login finds the same account")
}

// An account whose email was verified (by a provider) is still linked by that email, the
// provider's verified email is required, and a disabled account is not linked.
func TestSSOLoginLinksOnlyVerifiedToVerified(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	now := time.Now()
	verified := &models.User{Username: "vera", Email: ptr("vera@corp.example"), EmailVerifiedAt: &now}
	require.NoError(t, st.CreateUser(ctx, verified))

	unverifiedClaim, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "x", Email: "vera@corp.example",
		Username: "vera"})
	require.NoError(t, err)
	require.NotEqual(t, verified.ID, unverifiedClaim.ID, "the provider did not verify the address")
	require.Nil(t, unverifiedClaim.Email)

	linked, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "vera-1", Email: "vera@corp.example",
		EmailVerified: true, Username: "vera"})
	require.NoError(t, err)
	require.Equal(t, verified.ID, linked.ID, "verified on both sides: linked")
}

// A logged-in user links their provider identity explicitly: the identity of another account is
// refused, linking twice is harmless, another identity is refused, a matching verified email
// becomes verified and the provider's groups are synced.
func TestLinkSSOIdentity(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	alice := &models.User{Username: "alice", Email: ptr("alice@corp.example")}
	require.NoError(t, st.CreateUser(ctx, alice))
	other, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "bob-1", Username: "bob"})
	require.NoError(t, err)

	_, err = st.LinkSSOIdentity(ctx, alice.ID, store.SSOUser{Issuer: "https://idp", Subject: "bob-1"})
	require.ErrorIs(t, err, models.ErrConflict)
	var de *models.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, "SSO_IDENTITY_TAKEN", de.Code)
	_ = other

	in := store.SSOUser{Issuer: "https://idp", Subject: "alice-1", Email: "alice@corp.example", EmailVerified: true,
		Groups: []string{"eng"}}
	u, err := st.LinkSSOIdentity(ctx, alice.ID, in)
	require.NoError(t, err)
	require.Equal(t, "alice-1", *u.OIDCSubject)
	require.NotNil(t, u.EmailVerifiedAt, "the provider vouched for the account's own address")
	groups, err := st.Memberships(ctx, alice.ID)
	require.NoError(t, err)
	require.Len(t, groups, 1)

	_, err = st.LinkSSOIdentity(ctx, alice.ID, in)
	require.NoError(t, err, "the same identity again")
	_, err = st.LinkSSOIdentity(ctx, alice.ID, store.SSOUser{Issuer: "https://idp", Subject: "alice-2"})
	require.ErrorAs(t, err, &de)
	require.Equal(t, "SSO_ALREADY_LINKED", de.Code)

	found, err := st.UpsertSSOUser(ctx, store.SSOUser{Issuer: "https://idp", Subject: "alice-1", Username: "alice"})
	require.NoError(t, err)
	require.Equal(t, alice.ID, found.ID, "later SSO logins reach the linked account")

	_, err = st.LinkSSOIdentity(ctx, uuid.New(), in)
	require.ErrorIs(t, err, models.ErrNotFound)
}

// After After failures a username waits Base, doubling with each failure up to Max; attempts
// are counted before the password is checked, so parallel ones cannot exceed the policy; a
// success forgets the failures; names that belong to no account are counted the same way.
func TestLoginBackoff(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	p := store.LoginBackoff{After: 3, Base: 10 * time.Second, Max: 35 * time.Second, Forget: time.Hour}
	t0 := time.Now().UTC().Truncate(time.Second)

	for i := range 3 {
		ok, _, err := st.BeginLogin(ctx, "Nobody", t0, p)
		require.NoError(t, err)
		require.True(t, ok, "attempt %d goes ahead", i+1)
	}
	ok, retry, err := st.BeginLogin(ctx, "nobody", t0, p)
	require.NoError(t, err)
	require.False(t, ok, "the fourth waits (usernames are case-insensitive)")
	require.Equal(t, t0.Add(10*time.Second), retry.UTC())

	steps := []time.Duration{20 * time.Second, 35 * time.Second, 35 * time.Second} // doubling, capped
	at := retry.UTC()
	for _, d := range steps {
		ok, _, err = st.BeginLogin(ctx, "nobody", at.Add(-time.Second), p)
		require.NoError(t, err)
		require.False(t, ok, "still waiting")
		ok, _, err = st.BeginLogin(ctx, "nobody", at, p)
		require.NoError(t, err)
		require.True(t, ok, "the wait is over")
		_, next, err := st.BeginLogin(ctx, "nobody", at, p)
		require.NoError(t, err)
		require.Equal(t, at.Add(d), next.UTC())
		at = next.UTC()
	}

	require.NoError(t, st.FinishLogin(ctx, "NOBODY"))
	ok, _, err = st.BeginLogin(ctx, "nobody", at.Add(-time.Hour), p)
	require.NoError(t, err)
	require.True(t, ok, "a success forgets the failures")

	// Old failures are forgotten.
	for range 3 {
		_, _, err := st.BeginLogin(ctx, "old", t0, p)
		require.NoError(t, err)
	}
	ok, _, err = st.BeginLogin(ctx, "old", t0.Add(2*time.Hour), p)
	require.NoError(t, err)
	require.True(t, ok)

	// Off.
	for range 10 {
		ok, _, err := st.BeginLogin(ctx, "free", t0, store.LoginBackoff{})
		require.NoError(t, err)
		require.True(t, ok)
	}
}

// Parallel attempts for one username cannot slip in more than the policy allows.
func TestLoginBackoffHoldsUnderParallelAttempts(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	p := store.LoginBackoff{After: 5, Base: time.Minute, Max: time.Hour, Forget: time.Hour}
	now := time.Now()
	results := make(chan bool, 40)
	for range cap(results) {
		go func() {
			ok, _, err := st.BeginLogin(ctx, "target", now, p)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	allowed := 0
	for range cap(results) {
		if <-results {
			allowed++
		}
	}
	require.Equal(t, 5, allowed)
}

// Rotation carries the login's auth_time over; reauthentication renews it for the live token.
func TestAuthTimeFollowsTheLogin(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	u := &models.User{Username: "ann"}
	require.NoError(t, st.CreateUser(ctx, u))
	fam := uuid.New()
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	require.NoError(t, st.CreateRefreshToken(ctx, &models.RefreshToken{UserID: u.ID, FamilyID: fam, TokenHash: []byte("h1"),
		ExpiresAt: time.Now().Add(time.Hour), AuthTime: &t0}))
	next := &models.RefreshToken{TokenHash: []byte("h2"), ExpiresAt: time.Now().Add(time.Hour)}
	old, err := st.RotateRefreshToken(ctx, []byte("h1"), next, time.Now())
	require.NoError(t, err)
	require.True(t, old.AuthTime.Equal(t0))
	got, err := st.RefreshTokenByHash(ctx, []byte("h2"))
	require.NoError(t, err)
	require.True(t, got.AuthTime.Equal(t0), "the rotated token keeps the login's auth_time")

	t1 := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, st.RenewAuthTime(ctx, fam, t1))
	got, err = st.RefreshTokenByHash(ctx, []byte("h2"))
	require.NoError(t, err)
	require.True(t, got.AuthTime.Equal(t1))
	require.NoError(t, st.RevokeFamily(ctx, fam, time.Now()))
	require.ErrorIs(t, st.RenewAuthTime(ctx, fam, t1), models.ErrUnauthenticated, "an ended login cannot be renewed")
}
