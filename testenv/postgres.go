package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the migrations
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/migrations"
)

// templateDB is the migrated database every test database is copied from.
const templateDB = "yw_template"

var (
	pgMu  sync.Mutex
	pg    *devservices.Postgres
	pgErr error

	templateOnce sync.Once
	templateErr  error

	// cloneMu serialises CREATE DATABASE ... TEMPLATE: Postgres rejects a copy while another
	// session uses the template.
	cloneMu sync.Mutex
)

// DB is a test's own database, migrated, on the shared cluster.
type DB struct {
	DSN  string
	Name string
}

// NewDB creates a fresh database with the current schema for t — a copy of a template migrated
// once per test binary — and drops it when t ends. It is safe for parallel tests.
func NewDB(t testing.TB) DB {
	t.Helper()
	p := PostgresCluster(t)
	templateOnce.Do(func() { templateErr = createTemplate(p) })
	if templateErr != nil {
		t.Fatalf("testenv: migrate the template database: %v", templateErr)
	}

	name := "t_" + strings.ToLower(sanitize(t.Name(), '_', 40)) + "_" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cloneTemplate(ctx, p, name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if keep() {
			t.Logf("testenv: YW_TEST_KEEP=1: kept database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, p, name); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return DB{DSN: p.DSN(name), Name: name}
}

// PostgresCluster returns the test binary's cluster, starting it on first use. A test that stops
// it must not run in parallel with others and must start it again (Start keeps the port).
func PostgresCluster(t testing.TB) *devservices.Postgres {
	t.Helper()
	requireMain(t)
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg == nil && pgErr == nil {
		pg, pgErr = startPostgres()
	}
	if pgErr != nil {
		t.Fatalf("testenv: start postgres: %v", pgErr)
	}
	return pg
}

func startedPostgres() *devservices.Postgres {
	pgMu.Lock()
	defer pgMu.Unlock()
	return pg
}

func startPostgres() (*devservices.Postgres, error) {
	root, err := workDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return devservices.StartPostgres(ctx, devservices.PostgresOptions{
		DataDir: filepath.Join(root, "pg"),
		Fast:    true,
		Logger:  logger,
	})
}

// createTemplate creates and migrates the template database, then closes every connection to
// it and forbids new ones, so copying it never finds it busy.
func createTemplate(p *devservices.Postgres) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.CreateDatabase(ctx, templateDB, ""); err != nil {
		return err
	}
	db, err := sql.Open("pgx", p.DSN(templateDB))
	if err != nil {
		return err
	}
	_, err = migrations.Up(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return adminExec(ctx, p, "ALTER DATABASE "+pgx.Identifier{templateDB}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
}

func cloneTemplate(ctx context.Context, p *devservices.Postgres, name string) error {
	cloneMu.Lock()
	defer cloneMu.Unlock()
	for {
		err := p.CreateDatabase(ctx, name, templateDB)
		// A session that just disconnected from the template (the migration's) may still be
		// winding down; Postgres waits 5 s for it, then fails with object_in_use.
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dropDatabase(ctx context.Context, p *devservices.Postgres, name string) error {
	return adminExec(ctx, p, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func adminExec(ctx context.Context, p *devservices.Postgres, stmt string) error {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}
