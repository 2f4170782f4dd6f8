package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, slow time.Duration, logs *testenv.Buffer) *store.Store {
	t.Helper()
	db := testenv.NewDB(t)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, PrePing: true, SlowQuery: slow, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.CreateUser(ctx, &models.User{Username: "rolled-back"}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = st.UserByUsername(ctx, "rolled-back")
	require.ErrorIs(t, err, models.ErrNotFound)

	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		return tx.CreateUser(ctx, &models.User{Username: "kept"})
	}))
	u, err := st.UserByUsername(ctx, "KEPT")
	require.NoError(t, err, "usernames are case-insensitive")
	require.Equal(t, "kept", u.Username)
}

func TestDuplicateIsConflict(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	require.NoError(t, st.CreateUser(ctx, &models.User{Username: "dup"}))
	err := st.CreateUser(ctx, &models.User{Username: "Dup"})
	require.ErrorIs(t, err, models.ErrConflict)
}

func TestUpdatedAtMaintainedByTrigger(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	u := &models.User{Username: "touchy"}
	require.NoError(t, st.CreateUser(ctx, u))
	var before, after time.Time
	require.NoError(t, st.SQL().QueryRow(`SELECT updated_at FROM users WHERE id = $1`, u.ID).Scan(&before))
	_, err := st.SQL().Exec(`UPDATE users SET display_name = 'x' WHERE id = $1`, u.ID)
	require.NoError(t, err)
	require.NoError(t, st.SQL().QueryRow(`SELECT updated_at FROM users WHERE id = $1`, u.ID).Scan(&after))
	require.True(t, after.After(before), "raw SQL updates move updated_at too")
}

// TestSlowQueryLog checks that queries above the threshold are logged with their SQL but not
// their bound values (which may be ciphertext or password hashes).
func TestSlowQueryLog(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	// A threshold far above a quick query's time even on a loaded machine, after a first query
	// has opened the connection (connecting can take that long under load).
	st := open(t, 400*time.Millisecond, logs)
	ctx := context.Background()
	require.NoError(t, st.Ping(ctx))
	_, err := st.UserByUsername(ctx, "fast-and-secret")
	require.ErrorIs(t, err, models.ErrNotFound)
	require.NotContains(t, logs.String(), "slow query")

	require.NoError(t, st.SlowProbe(ctx, 500*time.Millisecond, "very-secret-value"))
	out := logs.String()
	require.Contains(t, out, `"msg":"slow query"`)
	require.Contains(t, out, "pg_sleep")
	require.NotContains(t, out, "very-secret-value")
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	u := &models.User{Username: "rot"}
	require.NoError(t, st.CreateUser(ctx, u))
	now := time.Now().UTC()
	fam := uuid.New()
	first := &models.RefreshToken{UserID: u.ID, FamilyID: fam, TokenHash: []byte("h1"), ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, st.CreateRefreshToken(ctx, first))

	next := &models.RefreshToken{TokenHash: []byte("h2"), ExpiresAt: now.Add(time.Hour)}
	old, err := st.RotateRefreshToken(ctx, []byte("h1"), next, now)
	require.NoError(t, err)
	require.Equal(t, first.ID, old.ID)
	require.Equal(t, fam, next.FamilyID)

	state, err := st.LoadCaller(ctx, u.ID, fam)
	require.NoError(t, err)
	require.True(t, state.SessionActive)

	_, err = st.RotateRefreshToken(ctx, []byte("h1"), &models.RefreshToken{TokenHash: []byte("h3"), ExpiresAt: now.Add(time.Hour)}, now)
	require.ErrorIs(t, err, store.ErrRefreshReused)
	state, err = st.LoadCaller(ctx, u.ID, fam)
	require.NoError(t, err)
	require.False(t, state.SessionActive, "reuse revoked the family")

	_, err = st.RotateRefreshToken(ctx, []byte("unknown"), &models.RefreshToken{TokenHash: []byte("h4"), ExpiresAt: now}, now)
	require.ErrorIs(t, err, models.ErrUnauthenticated)
}
