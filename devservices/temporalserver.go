package devservices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"gopkg.in/yaml.v3"
)

// TemporalServerOptions configures StartTemporalServer.
type TemporalServerOptions struct {
	// BinDir holds temporal-server, temporal-sql-tool and temporal-schema/ (`make tools` builds
	// them from the go.temporal.io/server module); "" means <repo root>/bin.
	BinDir string
	// Postgres holds the server's two databases, temporal and temporal_visibility; they are
	// created and their schemas set up or updated with the schema tool before the server starts.
	Postgres *Postgres
	// StateDir receives the generated config files and, unless LogFile says otherwise, the log.
	StateDir string
	// Port is the frontend gRPC port on 127.0.0.1; 0 picks a free one (kept across restarts).
	Port int
	// HistoryShards is the number of history shards, fixed when the schema is first set up
	// (production clusters use 512 or more; a laptop needs few). 0 means 4.
	HistoryShards int
	// DynamicConfig is written to the server's dynamic config file: key → value, e.g.
	// ServerFastDispatch().
	DynamicConfig map[string]any
	LogFile       string
	Logger        *slog.Logger
}

// TemporalServer is the Temporal server itself (not the CLI's dev server): frontend, history,
// matching and internal worker services in one process, persisting to Postgres. It is the shape
// production runs, on one machine.
type TemporalServer struct {
	// Address is the frontend's host:port, for client.Options.HostPort.
	Address string

	binary, configFile, logFile string
	log                         *slog.Logger

	mu   sync.Mutex
	proc *child
	out  *tailBuffer
}

// Databases of the Temporal server on its Postgres cluster.
const (
	TemporalDB           = "temporal"
	TemporalVisibilityDB = "temporal_visibility"
)

// ServerFastDispatch is FastDispatchArgs as dynamic config for the Temporal server: the same
// settings the dev server gets, for measurements that compare the two. docs/operations.md gives
// the production values.
func ServerFastDispatch() map[string]any {
	return map[string]any{
		"history.transferProcessorMaxPollRPS":   1000,
		"history.timerProcessorMaxPollRPS":      1000,
		"history.visibilityProcessorMaxPollRPS": 1000,
		"system.enableActivityEagerExecution":   true,
		"history.timerProcessorMaxTimeShift":    "10ms",
	}
}

// StartTemporalServer prepares the databases and starts the server, returning once its frontend
// answers health checks. The server registers no namespace: `youworker migrate up` does (with the
// search attributes), as it does in production.
func StartTemporalServer(ctx context.Context, opts TemporalServerOptions) (*TemporalServer, error) {
	ctx, cancel := startContext(ctx)
	defer cancel()
	if opts.Postgres == nil || opts.StateDir == "" {
		return nil, errors.New("temporal server: Postgres and StateDir are required")
	}
	binDir := opts.BinDir
	if binDir == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, fmt.Errorf("temporal server: %w", err)
		}
		binDir = filepath.Join(root, "bin")
	}
	for _, name := range []string{"temporal-server", "temporal-sql-tool", "temporal-schema"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return nil, fmt.Errorf("temporal server: %s not found in %s (build it with `make tools`): %w", name, binDir, err)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("service", "temporal-server")
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("temporal server: %w", err)
	}
	shards := opts.HistoryShards
	if shards == 0 {
		shards = 4
	}
	if err := SetupTemporalSchema(ctx, binDir, opts.Postgres, logger); err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	// The other services' ports are fixed at the first start too: a restarted server finds its
	// own old membership entries in the database under the same addresses. Temporal keeps
	// membership ports in a smallint column, so they come from below 32768, under the kernel's
	// ephemeral range.
	ports := make([]int, 8)
	for i := range ports {
		p, err := freeLowPort(ports[:i])
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	dyn := filepath.Join(opts.StateDir, "dynamicconfig.yaml")
	if err := writeDynamicConfig(dyn, opts.DynamicConfig); err != nil {
		return nil, err
	}
	cfg := filepath.Join(opts.StateDir, "temporal-server.yaml")
	if err := os.WriteFile(cfg, []byte(serverConfig(opts.Postgres.Port, port, ports, shards, dyn)), 0o644); err != nil {
		return nil, fmt.Errorf("temporal server: %w", err)
	}
	t := &TemporalServer{
		Address:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		binary:     filepath.Join(binDir, "temporal-server"),
		configFile: cfg,
		logFile:    opts.LogFile,
		log:        logger,
	}
	if t.logFile == "" {
		t.logFile = filepath.Join(opts.StateDir, "temporal-server.log")
	}
	if err := t.Start(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// SetupTemporalSchema creates the server's databases when missing and brings both schemas up to
// the version of the server in binDir, with its own schema tool and schema files. Idempotent.
func SetupTemporalSchema(ctx context.Context, binDir string, pg *Postgres, log *slog.Logger) error {
	tool := filepath.Join(binDir, "temporal-sql-tool")
	schemas := filepath.Join(binDir, "temporal-schema", "postgresql", "v12")
	for db, dir := range map[string]string{TemporalDB: "temporal", TemporalVisibilityDB: "visibility"} {
		created, err := createDatabaseIfMissing(ctx, pg, db)
		if err != nil {
			return fmt.Errorf("temporal server: %w", err)
		}
		versioned, err := hasSchemaVersion(ctx, pg, db)
		if err != nil {
			return fmt.Errorf("temporal server: %w", err)
		}
		base := []string{"--plugin", "postgres12", "--endpoint", "127.0.0.1", "--port", strconv.Itoa(pg.Port),
			"--user", postgresUser, "--database", db}
		if !versioned {
			if err := runTool(ctx, tool, append(slices.Clone(base), "setup-schema", "-v", "0.0")...); err != nil {
				return err
			}
		}
		if err := runTool(ctx, tool, append(slices.Clone(base), "update-schema", "-d", filepath.Join(schemas, dir, "versioned"))...); err != nil {
			return err
		}
		log.Info("temporal schema up to date", "database", db, "created", created)
	}
	return nil
}

func createDatabaseIfMissing(ctx context.Context, pg *Postgres, name string) (bool, error) {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("check database %s: %w", name, err)
	}
	if exists {
		return false, nil
	}
	return true, pg.CreateDatabase(ctx, name, "")
}

// freeLowPort returns a free TCP port on 127.0.0.1 between 20000 and 32767 that is not in taken.
func freeLowPort(taken []int) (int, error) {
	for range 200 {
		p := 20000 + rand.IntN(12768)
		if slices.Contains(taken, p) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p, nil
	}
	return 0, errors.New("no free port between 20000 and 32767")
}

// hasSchemaVersion says whether the schema tool has set up db (its version table exists).
func hasSchemaVersion(ctx context.Context, pg *Postgres, db string) (bool, error) {
	conn, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		return false, fmt.Errorf("connect %s: %w", db, err)
	}
	defer conn.Close(context.Background())
	var ok bool
	err = conn.QueryRow(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&ok)
	return ok, err
}

func runTool(ctx context.Context, tool string, args ...string) error {
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		return withOutput(fmt.Errorf("temporal-sql-tool %s: %w", strings.Join(args, " "), err), "output", lastLines(string(out), 20))
	}
	return nil
}

func writeDynamicConfig(path string, values map[string]any) error {
	doc := map[string][]map[string]any{}
	for k, v := range values {
		doc[k] = []map[string]any{{"value": v}}
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	if len(doc) == 0 {
		b = nil
	}
	return os.WriteFile(path, b, 0o644)
}

// serverConfig is the server's static config: one process, every service, Postgres for both
// persistence and visibility, no archival, ports on loopback.
func serverConfig(pgPort, frontend int, p []int, shards int, dynamicConfig string) string {
	return fmt.Sprintf(`# Generated by youworker (devservices.StartTemporalServer); regenerated at every start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: %[7]d
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: %[8]s
        connectAddr: "127.0.0.1:%[1]d"
        connectProtocol: tcp
        user: %[10]s
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: %[9]s
        connectAddr: "127.0.0.1:%[1]d"
        connectProtocol: tcp
        user: %[10]s
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
services:
  frontend:
    rpc: {grpcPort: %[2]d, membershipPort: %[3]d, httpPort: %[4]d, bindOnLocalHost: true}
  history:
    rpc: {grpcPort: %[5]d, membershipPort: %[6]d, bindOnLocalHost: true}
  matching:
    rpc: {grpcPort: %[11]d, membershipPort: %[12]d, bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: %[13]d, membershipPort: %[14]d, bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:%[2]d"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: %[15]q
  pollInterval: 10s
`, pgPort, frontend, p[0], p[1], p[2], p[3], shards, TemporalDB, TemporalVisibilityDB, postgresUser,
		p[4], p[5], p[6], p[7], dynamicConfig)
}

// Start starts the server (again, after Stop or Kill: same ports, same databases) and returns
// once its frontend answers health checks.
func (t *TemporalServer) Start(ctx context.Context) error {
	ctx, cancel := startContext(ctx)
	defer cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc != nil && !t.proc.exited() {
		return nil
	}
	logFile, err := os.OpenFile(t.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("temporal server: open log: %w", err)
	}
	t.out = newTailBuffer(outputTailBytes)
	w := io.MultiWriter(logFile, t.out)
	cmd := exec.Command(t.binary, "--config-file", t.configFile, "--allow-no-auth", "start")
	cmd.Stdout, cmd.Stderr = w, w
	proc, err := startChild(cmd, syscall.SIGKILL)
	if err != nil {
		_ = logFile.Close()
		return fmt.Errorf("temporal server: start %s: %w", t.binary, err)
	}
	go func() {
		<-proc.done
		_ = logFile.Close()
	}()
	t.proc = proc
	start := time.Now()
	if err := t.waitReady(ctx); err != nil {
		_ = proc.stop(context.Background(), "temporal-server")
		return err
	}
	t.log.Info("temporal server ready", "pid", proc.pid(), "address", t.Address, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (t *TemporalServer) waitReady(ctx context.Context) error {
	var last error
	for {
		if t.proc.exited() {
			return withOutput(fmt.Errorf("temporal server: exited during start-up (%v)", t.proc.err),
				"temporal server output", lastLines(t.out.String(), 30))
		}
		if last = t.probe(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return withOutput(fmt.Errorf("temporal server at %s not ready: %w (last error: %v)", t.Address, ctx.Err(), last),
				"temporal server output", lastLines(t.out.String(), 30))
		case <-t.proc.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (t *TemporalServer) probe(ctx context.Context) error {
	ctx, cancel := t.proc.untilExit(ctx, 2*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort: t.Address,
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// PID is the server process's id while it runs, else 0.
func (t *TemporalServer) PID() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc == nil || t.proc.exited() {
		return 0
	}
	return t.proc.pid()
}

// Kill SIGKILLs the server (a crash: nothing is flushed or handed over) and waits for it to exit.
func (t *TemporalServer) Kill() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc != nil {
		_ = t.proc.stop(context.Background(), "temporal-server")
	}
}

// Stop stops the server gracefully (SIGTERM, then SIGKILL after 20 s or when ctx ends).
func (t *TemporalServer) Stop(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc == nil {
		return nil
	}
	err := t.proc.stop(ctx, "temporal-server", stopStep{syscall.SIGTERM, 20 * time.Second})
	if err != nil {
		return withOutput(fmt.Errorf("temporal server: stop: %w", err), "temporal server output", lastLines(t.out.String(), 20))
	}
	t.log.Info("temporal server stopped", "address", t.Address)
	return nil
}

// TemporalUI is the Temporal Web UI server (github.com/temporalio/ui-server) pointed at a
// Temporal frontend.
type TemporalUI struct {
	URL  string
	proc *child
	out  *tailBuffer
	log  *slog.Logger
}

// StartTemporalUI starts bin/temporal-ui-server (binDir "" means <repo root>/bin) on port (0 picks
// a free one), serving the UI for the frontend at temporalAddress, with its config and log under
// stateDir, and returns once it answers.
func StartTemporalUI(ctx context.Context, binDir, stateDir, temporalAddress string, port int, logger *slog.Logger) (*TemporalUI, error) {
	ctx, cancel := startContext(ctx)
	defer cancel()
	if binDir == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, fmt.Errorf("temporal ui: %w", err)
		}
		binDir = filepath.Join(root, "bin")
	}
	binary := filepath.Join(binDir, "temporal-ui-server")
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("temporal ui: not found at %s (build it with `make tools`): %w", binary, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	cfgDir := filepath.Join(stateDir, "ui-config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	cfg := fmt.Sprintf("# Generated by youworker (devservices.StartTemporalUI).\ntemporalGrpcAddress: %q\nhost: 127.0.0.1\nport: %d\nenableUi: true\ndefaultNamespace: default\ncors:\n  cookieInsecure: true\n", temporalAddress, port)
	if err := os.WriteFile(filepath.Join(cfgDir, "cluster.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(stateDir, "temporal-ui.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	out := newTailBuffer(outputTailBytes)
	cmd := exec.Command(binary, "--root", stateDir, "--config", "ui-config", "--env", "cluster", "start")
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logFile, out), io.MultiWriter(logFile, out)
	proc, err := startChild(cmd, syscall.SIGKILL)
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("temporal ui: start: %w", err)
	}
	go func() {
		<-proc.done
		_ = logFile.Close()
	}()
	ui := &TemporalUI{URL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), proc: proc, out: out, log: logger}
	for {
		if proc.exited() {
			return nil, withOutput(fmt.Errorf("temporal ui: exited during start-up (%v)", proc.err), "temporal ui output", lastLines(out.String(), 20))
		}
		if httpOK(ctx, ui.URL+"/") {
			logger.Info("temporal ui ready", "url", ui.URL)
			return ui, nil
		}
		select {
		case <-ctx.Done():
			_ = proc.stop(context.Background(), "temporal-ui")
			return nil, withOutput(fmt.Errorf("temporal ui at %s not ready: %w", ui.URL, ctx.Err()), "temporal ui output", lastLines(out.String(), 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the UI server.
func (u *TemporalUI) Stop(ctx context.Context) error {
	return u.proc.stop(ctx, "temporal-ui", stopStep{syscall.SIGTERM, 5 * time.Second})
}

func httpOK(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
