package migrations_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var tables = []string{
	"users", "api_keys", "refresh_tokens", "groups", "group_memberships", "audit_log", "mcp_servers",
	"chat_sessions", "turns", "messages", "turn_events", "tool_runs",
	"document_blobs", "documents", "document_chunks", "ingestion_runs", "ingestion_events",
}

// TestUpDownUp applies every migration, rolls every one back and applies them again: each
// migration is reversible and the final schema holds the whole domain.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := testenv.PostgresCluster(t)
	require.NoError(t, cluster.CreateDatabase(ctx, "updownup", ""))
	db, err := sql.Open("pgx", cluster.DSN("updownup"))
	require.NoError(t, err)
	defer db.Close()

	applied, err := migrations.Up(ctx, db)
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	requireTables(t, db, true)

	again, err := migrations.Up(ctx, db)
	require.NoError(t, err)
	require.Empty(t, again, "up is idempotent")

	for range applied {
		_, err := migrations.Down(ctx, db)
		require.NoError(t, err)
	}
	requireTables(t, db, false)
	st, err := migrations.List(ctx, db)
	require.NoError(t, err)
	for _, s := range st {
		require.False(t, s.Applied)
	}

	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)
	requireTables(t, db, true)
}

func requireTables(t *testing.T, db *sql.DB, present bool) {
	t.Helper()
	for _, table := range tables {
		var exists bool
		require.NoError(t, db.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&exists))
		require.Equal(t, present, exists, table)
	}
}
