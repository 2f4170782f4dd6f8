package devservices

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql)
	require.NoError(t, err)
}

func noteCount(t *testing.T, p *Postgres, database string) int {
	t.Helper()
	var n int
	err := connect(t, p.DSN(database)).QueryRow(context.Background(), "SELECT count(*) FROM notes").Scan(&n)
	require.NoError(t, err)
	return n
}

func TestPostgresKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "pg")

	p, err := StartPostgres(ctx, PostgresOptions{DataDir: dataDir, Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NotZero(t, p.Port)

	// A template with a table and a row; a clone of it gets both.
	require.NoError(t, p.CreateDatabase(ctx, "tmpl", ""))
	tmpl := connect(t, p.DSN("tmpl"))
	mustExec(t, tmpl, "CREATE TABLE notes (body text NOT NULL)")
	mustExec(t, tmpl, "INSERT INTO notes VALUES ('kept')")
	require.NoError(t, tmpl.Close(ctx)) // Postgres refuses to copy a template in use
	require.NoError(t, p.CreateDatabase(ctx, "clone", "tmpl"))
	require.Equal(t, 1, noteCount(t, p, "clone"))

	require.Error(t, p.CreateDatabase(ctx, "clone", "tmpl"), "a second database of the same name")

	require.NoError(t, p.Stop(ctx))
	require.NoError(t, p.Stop(ctx), "Stop is idempotent")
	_, err = pgx.Connect(ctx, p.DSN("postgres"))
	require.Error(t, err, "the server is down after Stop")

	// What `make dev` promises: the next start on the same directory finds the data.
	p2, err := StartPostgres(ctx, PostgresOptions{DataDir: dataDir, Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p2.Stop(context.Background()) })
	require.Equal(t, 1, noteCount(t, p2, "clone"))

	// A parent killed without stopping the cluster leaves a postmaster.pid behind; the next
	// start must recover (the data survives: crash recovery replays the WAL).
	pid := p2.proc.pid()
	require.NoError(t, syscall.Kill(-pid, syscall.SIGKILL))
	<-p2.proc.done
	require.FileExists(t, filepath.Join(dataDir, "postmaster.pid"))

	require.NoError(t, p2.Start(ctx), "restart on the same port after a crash")
	require.Equal(t, 1, noteCount(t, p2, "tmpl"))
	require.NoError(t, p2.Stop(ctx))
}

func TestPostgresReportsTakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	dataDir := filepath.Join(t.TempDir(), "pg")
	_, err = StartPostgres(context.Background(), PostgresOptions{DataDir: dataDir, Port: port, Fast: true})
	require.ErrorIs(t, err, errPortTaken)
	require.ErrorContains(t, err, "could not bind", "the error carries the server log")
	require.ErrorContains(t, err, strconv.Itoa(port))

	_, err = os.Stat(filepath.Join(dataDir, "postmaster.pid"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is left running")
}
