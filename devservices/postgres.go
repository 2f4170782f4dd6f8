package devservices

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// DataDir is the cluster directory. It is initialised with initdb when it holds no
	// PG_VERSION file and reused, data kept, otherwise.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// BinDir holds initdb and postgres; "" picks the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Fast trades durability for speed (fsync, synchronous_commit and full_page_writes off):
	// for tests, whose clusters are thrown away.
	Fast bool
	// LogFile receives the server log; "" means <DataDir>/postgres.log.
	LogFile string
	Logger  *slog.Logger
}

// Postgres is a running private cluster, owned by this process.
type Postgres struct {
	Port    int
	DataDir string

	binDir  string
	logFile string
	fast    bool
	cred    *syscall.Credential
	log     *slog.Logger

	mu        sync.Mutex
	proc      *child // nil when stopped
	logOffset int64  // where this run's output starts in logFile
}

const (
	postgresUser     = "postgres" // both the OS user (when we are root) and the superuser role
	postgresStopWait = 60 * time.Second
	portAttempts     = 5
	shmemWait        = 30 * time.Second
)

var errShmemInUse = errors.New("shared memory of an old server still in use")

// StartPostgres starts a cluster in opts.DataDir, creating it first if needed, and returns once it
// accepts connections. When the process runs as root, initdb and postgres run as the "postgres"
// OS user, because both refuse to run as root.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	ctx, cancel := startContext(ctx)
	defer cancel()

	if opts.DataDir == "" {
		return nil, errors.New("postgres: DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = newestPostgresBinDir(); err != nil {
			return nil, err
		}
	}
	logFile := opts.LogFile
	if logFile == "" {
		logFile = filepath.Join(dataDir, "postgres.log")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Postgres{
		Port:    opts.Port,
		DataDir: dataDir,
		binDir:  binDir,
		logFile: logFile,
		fast:    opts.Fast,
		log:     logger.With("service", "postgres"),
	}
	if p.cred, err = serviceCredential(); err != nil {
		return nil, err
	}
	if err := p.prepareDataDir(ctx); err != nil {
		return nil, err
	}

	autoPort := opts.Port == 0
	for attempt := 1; ; attempt++ {
		if autoPort {
			if p.Port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err = p.Start(ctx)
		if err == nil {
			return p, nil
		}
		if !autoPort || !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return nil, err
		}
		p.log.Warn("port taken before postgres bound it, retrying", "port", p.Port)
	}
}

// Start starts a stopped cluster again on the same port (so DSNs handed out stay valid) and
// returns once it accepts connections. StartPostgres already starts the cluster; Start is for
// tests of what happens while the database is down.
func (p *Postgres) Start(ctx context.Context) error {
	ctx, cancel := startContext(ctx)
	defer cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.exited() {
		return fmt.Errorf("postgres: already running (pid %d)", p.proc.pid())
	}
	p.proc = nil

	// After a postmaster was killed, its backends linger until they notice (they sit in their
	// own sessions, out of reach of a process-group kill) and the new postmaster refuses to
	// start while they still hold the old shared memory. They go within moments.
	deadline := time.Now().Add(shmemWait)
	for {
		err := p.startOnce(ctx)
		if err == nil || !errors.Is(err, errShmemInUse) || time.Now().After(deadline) {
			return err
		}
		p.log.Debug("old server processes still hold shared memory, retrying")
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startOnce starts the server once and waits until it accepts connections.
func (p *Postgres) startOnce(ctx context.Context) error {
	if err := removeStalePIDFile(p.DataDir); err != nil {
		return err
	}

	out, err := os.OpenFile(p.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: open log: %w", err)
	}
	defer out.Close() // the child has its own descriptor
	if p.logOffset, err = out.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("postgres: open log: %w", err)
	}

	args := []string{
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
	}
	if p.fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"), args...)
	cmd.Dir = p.DataDir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	// SIGQUIT is Postgres's immediate shutdown: the postmaster takes its backends down with it.
	proc, err := startChild(cmd, syscall.SIGQUIT)
	if err != nil {
		return fmt.Errorf("postgres: start: %w", err)
	}
	p.log.Debug("postgres starting", "pid", proc.pid(), "port", p.Port, "data_dir", p.DataDir)

	if err := p.waitReady(ctx, proc); err != nil {
		_ = proc.stop(context.Background(), "postgres", stopStep{syscall.SIGQUIT, 5 * time.Second})
		return err
	}
	p.proc = proc
	p.log.Info("postgres ready", "pid", proc.pid(), "port", p.Port, "data_dir", p.DataDir)
	return nil
}

// waitReady polls until the server started as proc accepts connections.
func (p *Postgres) waitReady(ctx context.Context, proc *child) error {
	const poll = 25 * time.Millisecond
	for {
		if proc.exited() {
			return p.exitError(proc)
		}
		ok, err := p.ping(ctx, proc)
		if ok {
			return nil
		}
		if err != nil { // someone else's server answered on our port
			p.log.Debug("another server answers on the port", "port", p.Port, "error", err)
			select {
			case <-proc.done:
				return p.exitError(proc)
			case <-time.After(10 * time.Second):
				return fmt.Errorf("postgres: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return p.withLog(fmt.Errorf("postgres: not accepting connections on port %d: %w", p.Port, ctx.Err()))
		case <-proc.done:
		case <-time.After(poll):
		}
	}
}

// ping reports whether our cluster accepts connections. A non-nil error means a server answered
// that is not ours.
func (p *Postgres) ping(ctx context.Context, proc *child) (bool, error) {
	ctx, cancel := proc.untilExit(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return false, nil // not up yet; "the database system is starting up" lands here too
	}
	defer conn.Close(context.Background())
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return false, nil
	}
	if !sameDir(dir, p.DataDir) {
		return false, fmt.Errorf("port %d answered by the cluster in %s: %w", p.Port, dir, errPortTaken)
	}
	return true, nil
}

func (p *Postgres) exitError(proc *child) error {
	tail := p.logTail()
	err := fmt.Errorf("postgres: exited during start-up (%v)", proc.err)
	switch {
	case strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use"):
		err = fmt.Errorf("postgres: port %d: %w", p.Port, errPortTaken)
	case strings.Contains(tail, "pre-existing shared memory block"):
		err = fmt.Errorf("postgres: %w", errShmemInUse)
	}
	return withOutput(err, "postgres log "+p.logFile, tail)
}

func (p *Postgres) withLog(err error) error {
	return withOutput(err, "postgres log "+p.logFile, p.logTail())
}

// logTail returns the end of what the current run wrote to the log file.
func (p *Postgres) logTail() string {
	f, err := os.Open(p.logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxTail = 4 << 10
	start := p.logOffset
	if fi, err := f.Stat(); err == nil && fi.Size()-start > maxTail {
		start = fi.Size() - maxTail
	}
	b, err := io.ReadAll(io.NewSectionReader(f, start, maxTail))
	if err != nil {
		return ""
	}
	return lastLines(string(b), 20)
}

// DSN returns the URL of database on this cluster for the superuser "postgres".
func (p *Postgres) DSN(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", postgresUser, p.Port, url.PathEscape(database))
}

// CreateDatabase creates database name as a copy of template ("" means the server's default,
// template1). Postgres refuses to copy a template that has other sessions connected.
func (p *Postgres) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: connect: %w", name, err)
	}
	defer conn.Close(context.Background())
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the cluster down (fast shutdown: sessions are disconnected, data is flushed) and
// waits for the server to exit. Stopping a stopped cluster does nothing.
func (p *Postgres) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	// SIGINT is Postgres's fast shutdown (sessions are disconnected, data flushed); SIGQUIT its
	// immediate shutdown (crash recovery at the next start); SIGKILL would orphan the backends.
	err := p.proc.stop(ctx, "postgres", stopStep{syscall.SIGINT, postgresStopWait}, stopStep{syscall.SIGQUIT, 5 * time.Second})
	p.proc = nil
	if err != nil {
		return p.withLog(fmt.Errorf("postgres: stop: %w", err))
	}
	p.log.Info("postgres stopped", "data_dir", p.DataDir)
	return nil
}

// prepareDataDir makes DataDir usable by the server user and runs initdb unless it holds a
// cluster already.
func (p *Postgres) prepareDataDir(ctx context.Context) error {
	// Parents are created traversable: the server may run as another user than ours.
	if err := os.MkdirAll(filepath.Dir(p.DataDir), 0o755); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := os.Mkdir(p.DataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("postgres: %w", err)
	}
	if p.cred != nil {
		if err := grantTraverse(filepath.Dir(p.DataDir), p.cred); err != nil {
			return err
		}
		if err := chownTree(p.DataDir, p.cred); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(p.DataDir, "PG_VERSION")); err == nil {
		p.log.Debug("reusing cluster", "data_dir", p.DataDir)
		return nil
	}

	args := []string{
		"-D", p.DataDir,
		"-U", postgresUser,
		"--auth=trust",
		"-E", "UTF8",
		"--locale=C.UTF-8",
	}
	if p.fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"), args...)
	cmd.Dir = "/" // initdb fails when it cannot read its working directory (e.g. /root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return withOutput(fmt.Errorf("postgres: initdb %s: %w", p.DataDir, err), "initdb output", lastLines(out.String(), 20))
	}
	p.log.Info("initialised cluster", "data_dir", p.DataDir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// newestPostgresBinDir returns the bin directory of the newest Debian-packaged Postgres.
func newestPostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type candidate struct {
		dir     string
		version int
	}
	var found []candidate
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			found = append(found, candidate{d, v})
		}
	}
	if len(found) == 0 {
		return "", errors.New("postgres: no server binaries in /usr/lib/postgresql/*/bin (install postgresql, or set BinDir)")
	}
	sort.Slice(found, func(i, j int) bool { return found[i].version > found[j].version })
	return found[0].dir, nil
}

func sameDir(a, b string) bool {
	if ra, err := filepath.EvalSymlinks(a); err == nil {
		a = ra
	}
	if rb, err := filepath.EvalSymlinks(b); err == nil {
		b = rb
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// removeStalePIDFile deletes postmaster.pid when the process it names is gone — left behind by
// a killed run. The postmaster would otherwise refuse to start if that PID now belongs to an
// unrelated process.
func removeStalePIDFile(dataDir string) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && processIsPostgres(pid) {
		return fmt.Errorf("postgres: the cluster in %s is already running (pid %d)", dataDir, pid)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("postgres: remove stale %s: %w", path, err)
	}
	return nil
}

// processIsPostgres reports whether pid is a live (not zombie) postgres process.
func processIsPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // cannot tell: let the postmaster decide
	}
	// "pid (comm) state ..."
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open || closing+2 >= len(stat) {
		return true
	}
	return string(stat[open+1:closing]) == "postgres" && stat[closing+2] != 'Z'
}
