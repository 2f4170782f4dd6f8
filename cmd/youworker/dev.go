package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/mcpservers/datetime"
	"github.com/youworker/youworker/mcpservers/ingest"
	"github.com/youworker/youworker/mcpservers/semantic"
	"github.com/youworker/youworker/mcpservers/web"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/workflows"
)

// devSecrets are generated on the first `make dev` and kept under the data dir, so logins and
// encrypted data survive a restart.
type devSecrets struct {
	JWTSecret string `json:"jwt_secret"`
	FernetKey string `json:"fernet_key"`
}

// runDev brings the whole platform up on this machine: a private Postgres and the Temporal dev
// server (both keeping their state in the data dir), migrations, the Ollama at OLLAMA_HOST if it
// answers or else the stand-in, the worker and the API. Ctrl-C stops everything it started.
func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("DATA_DIR", ".data"), "where Postgres, Temporal and dev secrets keep their state")
	apiAddr := fs.String("api-addr", envOr("API_ADDR", ":8080"), "API listen address")
	temporalPort := fs.Int("temporal-port", 7233, "Temporal frontend port (a free one if taken)")
	uiPort := fs.Int("temporal-ui-port", 8233, "Temporal UI port (a free one if taken)")
	pgPort := fs.Int("postgres-port", 5433, "Postgres port (a free one if taken)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := stateDir(*dataDir)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	secrets, err := loadDevSecrets(filepath.Join(dir, "dev-secrets.json"))
	if err != nil {
		return err
	}
	pg, err := startLocalPostgres(ctx, dir, *pgPort, log)
	if err != nil {
		return err
	}
	defer stopQuietly(log, "postgres", pg.Stop)
	dsn := pg.DSN("youworker")
	if err := migrateUp(ctx, dsn, log); err != nil {
		return err
	}

	log.Info("starting temporal dev server", "state", filepath.Join(dir, "temporal.db"))
	tmp, err := devservices.StartTemporal(ctx, devservices.TemporalOptions{
		DBFile:           filepath.Join(dir, "temporal.db"),
		Port:             portOrFree(*temporalPort),
		UIPort:           portOrFree(*uiPort),
		SearchAttributes: workflows.SearchAttributes(),
		LogFile:          filepath.Join(dir, "temporal.log"),
		ExtraArgs:        devservices.FastDispatchArgs(),
		Logger:           log,
	})
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer stopQuietly(log, "temporal", tmp.Stop)

	vars := environ()
	ollamaHost := envOr("OLLAMA_HOST", "http://127.0.0.1:11434")
	ollamaNote := "real Ollama at " + ollamaHost
	if !ollamaAnswers(ctx, ollamaHost) {
		_, base, shutdown, err := ollama.Start(ollama.Options{Logger: log}, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("ollama stand-in: %w", err)
		}
		defer stopQuietly(log, "ollama stand-in", shutdown)
		ollamaHost = base
		ollamaNote = "OLLAMA STAND-IN (scripted test double, not a language model) at " + base
		fmt.Fprint(os.Stderr, standinBanner(base))
	}

	mcp, err := listenBuiltinMCP()
	if err != nil {
		return err
	}
	defer mcp.close()

	overrides := map[string]string{
		"DATABASE_URL":       dsn,
		"TEMPORAL_ADDRESS":   tmp.Address,
		"TEMPORAL_NAMESPACE": tmp.Namespace,
		"OLLAMA_HOST":        ollamaHost,
		"API_ADDR":           *apiAddr,
		"DATA_DIR":           dir,
		"COOKIE_SECURE":      "false",
		"LOG_FORMAT":         "text",
	}
	if vars["JWT_SECRET"] == "" {
		overrides["JWT_SECRET"] = secrets.JWTSecret
	}
	if vars["PUBLIC_URL"] == "" {
		// Only PUBLIC_URL's origin counts as the API's own (browser requests from it pass the
		// origin check), so it must be the address the API actually listens on.
		overrides["PUBLIC_URL"] = apiURL(*apiAddr)
	}
	if vars["MCP_SERVERS"] == "" {
		overrides["MCP_SERVERS"] = mcp.servers()
	}
	if vars["FERNET_KEYS"] == "" {
		overrides["FERNET_KEYS"] = secrets.FernetKey
	}
	maps.Copy(vars, overrides)
	cfg, err := config.FromMap(vars)
	if err != nil {
		return err
	}
	appLog := cfg.Logger(os.Stderr)
	stopTracing, err := startTracing(ctx, telemetry.ServiceDev, appLog)
	if err != nil {
		return err
	}
	defer stopTracing()
	mcpApp, err := newApp(ctx, cfg, appLog, false)
	if err != nil {
		return err
	}
	defer mcpApp.close()
	if err := mcp.serve(mcpApp); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	// The worker's own metrics and health only when asked for (WORKER_METRICS_ADDR set): its
	// default address would collide between two dev platforms on one machine.
	_, workerOps := os.LookupEnv("WORKER_METRICS_ADDR")
	g.Go(func() error { return serveWorker(gctx, cfg, appLog, workerOps) })
	g.Go(func() error { return serveAPI(gctx, cfg, appLog) })
	g.Go(func() error {
		if err := waitHTTP(gctx, apiURL(*apiAddr)+"/health"); err != nil {
			return nil // the API failed; its own error ends the group
		}
		fmt.Fprint(stdout, devBanner(apiURL(*apiAddr), metricsNote(cfg.MetricsAddr), tmp.UIURL, pg.DSN("youworker"), ollamaNote, dir))
		return nil
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		log.Info("stopping")
		return nil
	}
	return err
}

// builtinMCP holds the listeners of the built-in MCP servers, opened before the configuration
// is built (the configuration names their URLs; semantic and ingest need the configuration).
type builtinMCP struct {
	names     []string
	listeners []net.Listener
	srvs      []*http.Server
}

func listenBuiltinMCP() (*builtinMCP, error) {
	b := &builtinMCP{names: []string{datetime.Name, semantic.Name, ingest.Name, web.Name}}
	for range b.names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.close()
			return nil, err
		}
		b.listeners = append(b.listeners, ln)
	}
	return b, nil
}

// servers is the MCP_SERVERS value naming them.
func (b *builtinMCP) servers() string {
	parts := make([]string, len(b.names))
	for i, n := range b.names {
		parts[i] = n + "=http://" + b.listeners[i].Addr().String() + "/mcp"
	}
	return strings.Join(parts, ",")
}

// serve starts every server on its listener.
func (b *builtinMCP) serve(a *app) error {
	for i, n := range b.names {
		var h http.Handler
		if n == datetime.Name {
			h = datetime.Handler(datetime.Options{Logger: a.log.With("component", "mcp-datetime"), AllowedOrigins: a.cfg.MCPOrigins})
		} else {
			var err error
			if h, err = a.mcpHandler(n); err != nil {
				return err
			}
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		b.srvs = append(b.srvs, srv)
		go func(ln net.Listener) { _ = srv.Serve(ln) }(b.listeners[i])
	}
	return nil
}

func (b *builtinMCP) close() {
	for _, srv := range b.srvs {
		_ = srv.Close()
	}
	for _, ln := range b.listeners {
		_ = ln.Close()
	}
}

// stateDir makes the data directory (absolute) that `make dev` and `make cluster` keep their
// state in. Others may pass through it (not list): as root, Postgres runs as the postgres user
// and must reach its data directory inside; the secrets files stay 0600.
func stateDir(dataDir string) (string, error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o711)
}

// startLocalPostgres starts the private cluster under dir/postgres (on port, or a free one when
// it is taken) with the youworker database; the caller stops it.
func startLocalPostgres(ctx context.Context, dir string, port int, log *slog.Logger) (*devservices.Postgres, error) {
	log.Info("starting postgres", "data_dir", filepath.Join(dir, "postgres"))
	pg, err := devservices.StartPostgres(ctx, devservices.PostgresOptions{
		DataDir: filepath.Join(dir, "postgres"), Port: portOrFree(port), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := ensureDatabase(ctx, pg, "youworker"); err != nil {
		stopQuietly(log, "postgres", pg.Stop)
		return nil, err
	}
	return pg, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// portOrFree returns port when nothing listens on it, else 0 (the service picks a free one).
func portOrFree(port int) int {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0
	}
	_ = ln.Close()
	return port
}

func loadDevSecrets(path string) (devSecrets, error) {
	var s devSecrets
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	changed := false
	if s.JWTSecret == "" {
		s.JWTSecret = randomSecret(48)
		changed = true
	}
	if s.FernetKey == "" {
		k, err := encryption.GenerateKey()
		if err != nil {
			return s, err
		}
		s.FernetKey = k
		changed = true
	}
	if changed {
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return s, err
		}
	}
	return s, nil
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ensureDatabase(ctx context.Context, pg *devservices.Postgres, name string) error {
	db, err := openSQL(pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	if exists {
		return nil
	}
	return pg.CreateDatabase(ctx, name, "")
}

func migrateUp(ctx context.Context, dsn string, log *slog.Logger) error {
	db, err := openSQL(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrations.Up(ctx, db)
	if err != nil {
		return err
	}
	log.Info("schema up to date", "applied_now", applied)
	return nil
}

func ollamaAnswers(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(host, "/")+"/api/version", nil)
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

func apiURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func waitHTTP(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stopQuietly(log *slog.Logger, name string, stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("stop failed", "service", name, "error", err)
		return
	}
	log.Info("stopped", "service", name)
}

func standinBanner(base string) string {
	line := strings.Repeat("!", 78)
	return fmt.Sprintf("\n%s\n!! No Ollama answered at OLLAMA_HOST. Using the OLLAMA STAND-IN at %s\n"+
		"!! It is a scripted TEST DOUBLE: replies echo your prompt, it is not a language model.\n"+
		"!! Start a real Ollama (or set OLLAMA_HOST) and restart `make dev` for real answers.\n%s\n\n", line, base, line)
}

// metricsNote says where the operator endpoints are.
func metricsNote(addr string) string {
	if addr == "" {
		return "off (METRICS_ADDR is empty)"
	}
	u := apiURL(addr)
	return u + "/metrics   (health: " + u + "/health/detailed)"
}

func devBanner(api, metrics, ui, dsn, llm, dir string) string {
	user := "dev-" + randomSecret(4)
	body := fmt.Sprintf(`{"username":"%s","password":"change-me-please"}`, user)
	return fmt.Sprintf(`
YouWorker is up.
  Console      %[1]s/console/   (in a browser; log in as the user the curl below registers)
  API          %[1]s   (OpenAPI: %[1]s/openapi.json)
  Metrics      %[7]s
  Temporal UI  %[2]s
  Postgres     %[3]s
  LLM          %[4]s
  State        %[5]s (kept between runs; delete it to start over)

Try it (registers a user, logs in, asks who you are):
  curl -sf %[1]s/v1/auth/register -H 'Content-Type: application/json' -d '%[6]s' && \
  curl -sf -c %[5]s/cookies.txt %[1]s/v1/auth/login -H 'Content-Type: application/json' -d '%[6]s' >/dev/null && \
  curl -s -b %[5]s/cookies.txt %[1]s/v1/auth/me

Then chat from a terminal as that user (the password is change-me-please):
  echo change-me-please | bin/youworker login --url %[1]s --username %[8]s
  bin/youworker chat

Ctrl-C stops everything.
`, api, ui, dsn, llm, dir, body, metrics, user)
}
