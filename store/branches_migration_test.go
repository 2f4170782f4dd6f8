package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// A session stored before branches existed (no parent_id, no anchors), with a turn still running
// across the migration, keeps working after it: migration 00014 makes it one linear branch, the
// running turn's answer follows its message, and the next turn sees the whole conversation.
func TestBranchesMigrationBackfillsLinearSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testenv.NewDB(t)
	db, err := sql.Open("pgx", tdb.DSN)
	require.NoError(t, err)
	defer db.Close()
	// Down to just before the branches migration (the migrations after it first).
	for {
		v, err := migrations.Down(ctx, db)
		require.NoError(t, err)
		if v == 14 {
			break
		}
		require.Greater(t, v, int64(14), "the branches migration was rolled back")
	}

	user, sid, t1, t2 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	u1, a1, u2 := models.MessageID(t1, models.RoleUser, 0, ""), models.MessageID(t1, models.RoleAssistant, 1, ""), models.MessageID(t2, models.RoleUser, 0, "")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, username) VALUES ($1, 'legacy-' || substr(md5(random()::text), 1, 8))`, []any{user}},
		{`INSERT INTO chat_sessions (id, owner_id, model) VALUES ($1, $2, 'm')`, []any{sid, user}},
		{`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, started_at) VALUES ($1, $2, $3, $4, 'completed', 'm', now() - interval '1 minute')`, []any{t1, sid, user, t1.String()}},
		{`INSERT INTO messages (id, session_id, turn_id, role, content) VALUES ($1, $2, $3, 'user', 'q1')`, []any{u1, sid, t1}},
		{`INSERT INTO messages (id, session_id, turn_id, step, role, content) VALUES ($1, $2, $3, 1, 'assistant', 'a1')`, []any{a1, sid, t1}},
		{`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, started_at) VALUES ($1, $2, $3, $4, 'running', 'm', now())`, []any{t2, sid, user, t2.String()}},
		{`INSERT INTO messages (id, session_id, turn_id, role, content) VALUES ($1, $2, $3, 'user', 'q2')`, []any{u2, sid, t2}},
	} {
		_, err := db.ExecContext(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)

	st, err := store.Open(store.Options{URL: tdb.DSN, PoolSize: 2, MaxOverflow: 2, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st.Close()
	tr := &tree{t: t, st: st, caller: models.Caller{UserID: user}, session: sid}
	require.Nil(t, tr.parent(u1))
	require.Equal(t, &u1, tr.parent(a1))
	require.Equal(t, a1, *tr.parent(u2))
	turn2, err := st.Turn(ctx, t2)
	require.NoError(t, err)
	require.Equal(t, &a1, turn2.ParentMessageID, "the running turn hangs off what its message follows")

	a2 := tr.answer(t2) // the worker finishes the turn that ran across the migration
	require.Equal(t, &u2, tr.parent(a2))
	require.Equal(t, []uuid.UUID{u1, a1, u2, a2}, tr.active())
	t3, u3 := tr.start([]byte("q3"), store.Branch{})
	require.Equal(t, []uuid.UUID{u1, a1, u2, a2, u3}, tr.history(t3))
}

// The trigger chains a turn's messages whoever writes them and however they overlap: writers
// whose transactions stay open together still each follow the one before (the turn's row lock),
// so no turn forks within itself.
func TestBranchesTriggerChainsOverlappingWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testenv.NewDB(t)
	st, err := store.Open(store.Options{URL: tdb.DSN, PoolSize: 4, MaxOverflow: 4, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st.Close()
	db, err := sql.Open("pgx", tdb.DSN)
	require.NoError(t, err)
	defer db.Close()
	tr := newTree(t, st)
	t1, u1 := tr.start([]byte("q"), store.Branch{})

	const n = 5
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tx, err := db.BeginTx(ctx, nil)
			if !assert.NoError(t, err) {
				return
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO messages (id, session_id, turn_id, step, role, content, tool_call_id) VALUES ($1, $2, $3, 1, 'tool', 'r', $4)`,
				uuid.New(), tr.session, t1, fmt.Sprint(i))
			assert.NoError(t, err)
			time.Sleep(100 * time.Millisecond) // without the lock, every writer would be open at once here
			assert.NoError(t, tx.Commit())
		})
	}
	wg.Wait()
	msgs, err := st.TurnMessages(ctx, t1)
	require.NoError(t, err)
	require.Len(t, msgs, n+1)
	children := map[uuid.UUID]int{}
	for _, m := range msgs[1:] {
		require.NotNil(t, m.ParentID)
		children[*m.ParentID]++
	}
	require.Len(t, children, n, "each message has its own parent: one chain")
	require.Equal(t, 1, children[u1])
}
