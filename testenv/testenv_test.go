package testenv

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/youworker/youworker/migrations"
)

func TestMain(m *testing.M) {
	SearchAttributes["YwTestenvKey"] = "Keyword"
	Main(m)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func tableExists(t *testing.T, conn *pgx.Conn, table string) bool {
	t.Helper()
	var exists bool
	err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists)
	require.NoError(t, err)
	return exists
}

func TestDatabasesAreIsolated(t *testing.T) {
	created := make(chan struct{}) // closed once the writer's table exists, or the writer gave up
	checked := make(chan struct{}) // closed once the reader has looked
	t.Run("writer", func(t *testing.T) {
		t.Parallel()
		var once sync.Once
		signal := func() { once.Do(func() { close(created) }) }
		defer signal()
		db := NewDB(t)
		conn := connect(t, db.DSN)
		_, err := conn.Exec(context.Background(), "CREATE TABLE only_in_writer (id int)")
		require.NoError(t, err)
		require.True(t, tableExists(t, conn, "only_in_writer"))
		signal()
		<-checked // keep the database until the reader has looked
	})
	t.Run("reader", func(t *testing.T) {
		t.Parallel()
		defer close(checked)
		db := NewDB(t)
		conn := connect(t, db.DSN)
		<-created
		require.False(t, tableExists(t, conn, "only_in_writer"))
	})
}

func TestNewDBHasTheSchema(t *testing.T) {
	t.Parallel()
	db := NewDB(t)
	conn := connect(t, db.DSN)
	require.True(t, tableExists(t, conn, "users"))
	require.True(t, tableExists(t, conn, "goose_db_version"))

	sqlDB, err := sql.Open("pgx", db.DSN)
	require.NoError(t, err)
	defer sqlDB.Close()
	statuses, err := migrations.List(context.Background(), sqlDB)
	require.NoError(t, err)
	require.NotEmpty(t, statuses)
	for _, s := range statuses {
		require.True(t, s.Applied, "migration %d %s is applied", s.Version, s.Name)
	}
}

func TestNewDBIsDroppedAfterTheTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		name = NewDB(t).Name
	})
	admin := connect(t, PostgresCluster(t).DSN("postgres"))
	var exists bool
	err := admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	require.NoError(t, err)
	require.False(t, exists, "database %s still exists", name)
}

func TestTemporalIsShared(t *testing.T) {
	t.Parallel()
	first := Temporal(t)
	second := Temporal(t)
	require.Same(t, first, second)
	require.Equal(t, first.Address, second.Address)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  first.Address,
		Namespace: first.Namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	defer c.Close()
	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: first.Namespace})
	require.NoError(t, err)
	require.Contains(t, attrs.GetCustomAttributes(), "YwTestenvKey", "SearchAttributes set in TestMain are registered")
}

func TestTaskQueueIsUniquePerCall(t *testing.T) {
	a, b := TaskQueue(t), TaskQueue(t)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "test-TestTaskQueueIsUniquePerCall-"), a)
}
