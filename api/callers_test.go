package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

func TestCallerCacheKeepsOnlyWhatNothingChanged(t *testing.T) {
	c := newCallerCache(time.Minute)
	user, login, now := uuid.New(), uuid.New(), time.Now()
	active := store.CallerState{User: &models.User{ID: user}, SessionActive: true, Groups: map[uuid.UUID]models.Role{uuid.New(): models.RoleMember}}

	c.put(user, login, c.ticket(), active, now)
	_, ok := c.get(user, login, now)
	require.False(t, ok, "nothing is cached while changes cannot be heard")

	c.listening(true)
	c.put(user, login, c.ticket(), active, now)
	got, ok := c.get(user, login, now)
	require.True(t, ok)
	require.Equal(t, active.Groups, got.Groups)
	for g := range got.Groups {
		delete(got.Groups, g) // the caller's own copy
	}
	got, _ = c.get(user, login, now)
	require.Len(t, got.Groups, 1)
	_, ok = c.get(user, login, now.Add(time.Minute))
	require.False(t, ok, "expired")

	stale := c.ticket() // a read that started before the change below
	c.drop(user)
	_, ok = c.get(user, login, now)
	require.False(t, ok, "dropped on a change")
	c.put(user, login, stale, active, now)
	_, ok = c.get(user, login, now)
	require.False(t, ok, "a read that raced a change is not kept")

	c.put(user, login, c.ticket(), store.CallerState{User: &models.User{ID: user}}, now)
	_, ok = c.get(user, login, now)
	require.False(t, ok, "ended logins are not kept")

	c.put(user, login, c.ticket(), active, now)
	stale = c.ticket()
	c.clear()
	_, ok = c.get(user, login, now)
	require.False(t, ok)
	c.put(user, login, stale, active, now)
	_, ok = c.get(user, login, now)
	require.False(t, ok, "a read that raced a clear is not kept")

	c.put(user, login, c.ticket(), active, now)
	c.listening(false)
	_, ok = c.get(user, login, now)
	require.False(t, ok, "a listener that went away forgets everything")

	reads := 0
	read := func(context.Context, uuid.UUID, uuid.UUID) (store.CallerState, error) { reads++; return active, nil }
	c.listening(true)
	for range 2 {
		_, err := c.load(context.Background(), user, login, now, read)
		require.NoError(t, err)
	}
	require.Equal(t, 1, reads, "the second load is served from the cache")

	var none *callerCache // AUTH_CACHE_TTL=0
	for range 2 {
		_, err := none.load(context.Background(), user, login, now, read)
		require.NoError(t, err)
	}
	require.Equal(t, 3, reads, "without a cache every load reads")
	none.clear()
	none.drop(user)
	none.listening(true)
}

// A login ended or a membership changed by another process (here: straight in Postgres) reaches
// this process's cache through the triggers' notifications, long before the cache would expire.
func TestCachedCallersHearOfChangesMadeElsewhere(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.AuthCacheTTL = time.Hour })
	_, login := e.signup("olga")
	user, sid, err := e.srv.tokens.VerifyAccess(login["access_token"].(string))
	require.NoError(t, err)
	me := e.bearer(login)
	cached := func() bool {
		require.Equal(t, http.StatusOK, me.do("GET", "/v1/auth/me", nil).Status)
		_, ok := e.srv.callers.get(user, sid, time.Now())
		return ok
	}
	require.Eventually(t, cached, 10*time.Second, 20*time.Millisecond, "the listener connects and the login is cached")

	ctx := context.Background()
	g := &models.Group{Name: "ops"}
	require.NoError(t, e.store.SQL().QueryRowContext(ctx, `INSERT INTO groups (id, name) VALUES ($1, 'ops') RETURNING id`, uuid.New()).Scan(&g.ID))
	_, err = e.store.SQL().ExecContext(ctx, `INSERT INTO group_memberships (group_id, user_id, role) VALUES ($1, $2, 'member')`, g.ID, user)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, ok := e.srv.callers.get(user, sid, time.Now())
		return !ok || len(st.Groups) == 1
	}, 5*time.Second, 10*time.Millisecond, "a new membership drops the cached caller")
	require.Eventually(t, cached, 5*time.Second, 20*time.Millisecond)
	st, _ := e.srv.callers.get(user, sid, time.Now())
	require.Contains(t, st.Groups, g.ID, "read again, with the new group")

	_, err = e.store.SQL().ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1`, sid)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return me.do("GET", "/v1/auth/me", nil).Status == http.StatusUnauthorized
	}, 5*time.Second, 10*time.Millisecond, "a login ended elsewhere ends here within the notification's latency, not the cache's hour")
}
