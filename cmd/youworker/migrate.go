package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/worker"
	"github.com/youworker/youworker/workflows"
)

const migrateUsage = "usage: youworker migrate up [--skip-temporal] [--temporal-wait 2m] | down | status"

// runMigrate manages the database schema; `up` also prepares the Temporal namespace (registers it
// when missing, with TEMPORAL_NAMESPACE_RETENTION, and adds the Yw* search attributes every
// workflow start sets), so every topology — dev server, cluster, compose, Helm — has them.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(migrateUsage)
	}
	fs := flag.NewFlagSet("migrate "+args[0], flag.ContinueOnError)
	skipTemporal := fs.Bool("skip-temporal", false, "up: only the database; leave the Temporal namespace and search attributes alone")
	temporalWait := fs.Duration("temporal-wait", 2*time.Minute, "up: how long to wait for Temporal to answer")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 || (args[0] != "up" && (*skipTemporal || *temporalWait != 2*time.Minute)) {
		return errors.New(migrateUsage)
	}
	cfg, err := config.FromEnvUnchecked()
	if err != nil {
		return err
	}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		return errors.New("config: DATABASE_URL: is required (e.g. postgres://user:pass@host:5432/youworker)")
	}
	db, err := openSQL(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		applied, err := migrations.Up(ctx, db)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "schema is up to date")
		}
		for _, v := range applied {
			fmt.Fprintf(stdout, "applied %05d\n", v)
		}
		if *skipTemporal {
			return nil
		}
		return prepareTemporal(ctx, cfg, *temporalWait, stdout)
	case "down":
		v, err := migrations.Down(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back %05d\n", v)
	case "status":
		st, err := migrations.List(ctx, db)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Fprintf(stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
	default:
		return fmt.Errorf("unknown migrate command %q (want up, down or status)", args[0])
	}
	return nil
}

// prepareTemporal registers the namespace and search attributes, waiting up to wait for Temporal.
func prepareTemporal(ctx context.Context, cfg config.Config, wait time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	log := cfg.Logger(os.Stderr)
	c, err := dialTemporal(ctx, cfg, log, nil)
	if err != nil {
		return fmt.Errorf("%w (run with --skip-temporal to migrate only the database)", err)
	}
	defer c.Close()
	setup, err := worker.PrepareNamespace(ctx, c, cfg.TemporalNamespace, cfg.TemporalRetention, workflows.SearchAttributes(), log)
	if err != nil {
		return err
	}
	if setup.CreatedNamespace {
		fmt.Fprintf(stdout, "registered temporal namespace %s (retention %s)\n", cfg.TemporalNamespace, cfg.TemporalRetention)
	}
	if len(setup.Added) == 0 {
		fmt.Fprintf(stdout, "temporal namespace %s has the search attributes\n", cfg.TemporalNamespace)
	} else {
		fmt.Fprintf(stdout, "registered search attributes in %s: %s\n", cfg.TemporalNamespace, strings.Join(setup.Added, ", "))
	}
	return nil
}

// openSQL opens a plain database/sql pool over pgx (migrations need no gorm).
func openSQL(dsn string) (*sql.DB, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return stdlib.OpenDB(*cc), nil
}
