// Package store is YouWorker's one Postgres store: gorm over pgx, one method per use case.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/telemetry"
)

// Options configure the connection pool. They mirror the DB_* variables of config.Config.
type Options struct {
	URL              string
	PoolSize         int           // connections kept open
	MaxOverflow      int           // extra connections allowed under load
	ConnMaxLifetime  time.Duration // recycle connections after this long
	ConnMaxIdleTime  time.Duration // close idle overflow connections after this long
	PrePing          bool          // ping a pooled connection before reusing it
	SlowQuery        time.Duration // log queries slower than this
	StatementTimeout time.Duration // server-side statement_timeout
	Logger           *slog.Logger
}

// Store wraps the database. The zero value is not usable; use Open or a tx from InTx.
type Store struct {
	db *gorm.DB
}

// Open connects to Postgres. It does not fail when Postgres is down: the pool connects lazily
// and requests answer 503 until it is back, so processes recover without a restart.
func Open(opts Options) (*Store, error) {
	cc, err := pgx.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if opts.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = fmt.Sprint(opts.StatementTimeout.Milliseconds())
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "youworker"
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 5 * time.Second
	}
	if t := telemetry.PgxTracer(); t != nil { // a span per statement when tracing is on
		cc.Tracer = t
	}
	// The pgx equivalent of SQLAlchemy's pool_pre_ping: a pooled connection that sat idle for
	// more than a second is pinged before reuse; a dead one is dropped and replaced. Recently used
	// connections skip the ping, so busy pools pay nothing.
	dbOpts := []stdlib.OptionOpenDB{stdlib.OptionShouldPing(func(_ context.Context, p stdlib.ShouldPingParams) bool {
		return opts.PrePing && p.IdleDuration > time.Second
	})}
	sqlDB := stdlib.OpenDB(*cc, dbOpts...)
	sqlDB.SetMaxIdleConns(opts.PoolSize)
	sqlDB.SetMaxOpenConns(opts.PoolSize + opts.MaxOverflow)
	sqlDB.SetConnMaxLifetime(opts.ConnMaxLifetime)
	sqlDB.SetConnMaxIdleTime(opts.ConnMaxIdleTime)

	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true, // connect lazily (see above); /health reports Postgres
		Logger:                 &queryLogger{log: logger, slow: opts.SlowQuery},
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open gorm: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// SQL returns the underlying *sql.DB (migrations, pool statistics).
func (s *Store) SQL() *sql.DB {
	sqlDB, _ := s.db.DB()
	return sqlDB
}

// Ping checks that Postgres answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.SQL().PingContext(ctx))
}

// InTx runs fn in one transaction: committed when fn returns nil, rolled back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx})
	})
	return translate(err)
}

func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// translate maps driver and gorm errors onto the model's error kinds. Errors that already are
// domain errors pass through unchanged.
func translate(err error) error {
	var de *models.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return models.Errorf(models.ErrNotFound, "NOT_FOUND", "not found").Wrap(err)
	case errors.Is(err, gorm.ErrDuplicatedKey), pgCode(err) == "23505":
		return models.Errorf(models.ErrConflict, "CONFLICT", "already exists").Wrap(err)
	case errors.Is(err, gorm.ErrForeignKeyViolated), pgCode(err) == "23503":
		return models.Errorf(models.ErrNotFound, "REFERENCE_NOT_FOUND", "a referenced object does not exist").Wrap(err)
	case isUnavailable(err):
		return models.Errorf(models.ErrUnavailable, "DATABASE_UNAVAILABLE", "the database is unavailable").Wrap(err)
	}
	return err
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// isUnavailable reports whether err means Postgres cannot be reached or is shutting down.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection_exception class
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", pgErr.Code == "53300":
			return true // admin/crash shutdown, cannot connect now, too many connections
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, sql.ErrConnDone) || pgconn.SafeToRetry(err)
}

func init() {
	// Scan() traces through gorm's recorder logger, whose params filter is this global: keep bound
	// values out of logged SQL there too.
	gormlogger.RecorderParamsFilter = func(_ context.Context, sql string, _ ...any) (string, []any) { return sql, nil }
}

// queryLogger logs slow queries at WARN with their parameterised SQL (never the values, which may
// be ciphertext or password hashes) and failed queries at DEBUG; callers decide whether a failure
// matters (a unique violation is usually a 409, not an incident).
type queryLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func (l *queryLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }
func (l *queryLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.InfoContext(ctx, "gorm", "detail", fmt.Sprintf(msg, args...))
}
func (l *queryLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "gorm", "detail", fmt.Sprintf(msg, args...))
}
func (l *queryLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "gorm", "detail", fmt.Sprintf(msg, args...))
}

// ParamsFilter keeps bound values out of the SQL text handed to Trace.
func (l *queryLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l *queryLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case l.slow > 0 && elapsed >= l.slow:
		sql, rows := fc()
		l.log.WarnContext(ctx, "slow query", "duration_ms", elapsed.Milliseconds(), "threshold_ms", l.slow.Milliseconds(),
			"rows", rows, "sql", sql)
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && l.log.Enabled(ctx, slog.LevelDebug):
		sql, _ := fc()
		l.log.DebugContext(ctx, "query failed", "error", err, "sql", sql)
	}
}
