package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/mcpservers/datetime"
	"github.com/youworker/youworker/mcpservers/ingest"
	"github.com/youworker/youworker/mcpservers/semantic"
	"github.com/youworker/youworker/mcpservers/web"
)

// runCluster runs the production topology on this machine, every part a process of its own: a
// private Postgres holding YouWorker's database and the Temporal server's two; the Temporal server
// itself (not the dev server) and its UI; `youworker migrate up` (schema, namespace, search
// attributes); the built-in MCP servers; the Qdrant stand-in on the production vector path
// (QDRANT_URL); the Ollama at OLLAMA_HOST or else the Ollama stand-in; two workers and two APIs.
// State lives under the data dir; Ctrl-C stops everything it started.
func runCluster(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	dataDir := fs.String("data-dir", ".data/cluster", "where Postgres, the logs and the cluster's secrets keep their state")
	apiPort := fs.Int("api-port", 8080, "port of the first API; the others take the next ones (free ones if taken)")
	apis := fs.Int("apis", 2, "number of API processes")
	workers := fs.Int("workers", 2, "number of worker processes")
	temporalPort := fs.Int("temporal-port", 7233, "Temporal frontend port (a free one if taken)")
	uiPort := fs.Int("temporal-ui-port", 8233, "Temporal UI port (a free one if taken)")
	pgPort := fs.Int("postgres-port", 5434, "Postgres port (a free one if taken)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *apis < 1 || *workers < 1 {
		return errors.New("cluster: --apis and --workers must be at least 1")
	}
	dir, err := stateDir(*dataDir)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	secrets, err := loadDevSecrets(filepath.Join(dir, "cluster-secrets.json"))
	if err != nil {
		return err
	}

	pg, err := startLocalPostgres(ctx, dir, *pgPort, log)
	if err != nil {
		return err
	}
	defer stopQuietly(log, "postgres", pg.Stop)

	log.Info("starting the temporal server on postgres", "state", filepath.Join(dir, "temporal"))
	tmp, err := devservices.StartTemporalServer(ctx, devservices.TemporalServerOptions{
		Postgres: pg, StateDir: filepath.Join(dir, "temporal"), Port: portOrFree(*temporalPort),
		DynamicConfig: devservices.ServerFastDispatch(), LogFile: filepath.Join(logDir, "temporal-server.log"), Logger: log,
	})
	if err != nil {
		return fmt.Errorf("temporal server: %w", err)
	}
	defer stopQuietly(log, "temporal server", tmp.Stop)
	ui, err := devservices.StartTemporalUI(ctx, "", filepath.Join(dir, "temporal"), tmp.Address, portOrFree(*uiPort), log)
	if err != nil {
		return err
	}
	defer stopQuietly(log, "temporal ui", ui.Stop)

	c := &cluster{self: self, logDir: logDir, log: log}
	defer c.stop()
	vars := environ()
	env := map[string]string{
		"DATABASE_URL":       pg.DSN("youworker"),
		"TEMPORAL_ADDRESS":   tmp.Address,
		"TEMPORAL_NAMESPACE": "default",
		"COOKIE_SECURE":      "false",
		"LOG_FORMAT":         "text",
		"DATA_DIR":           filepath.Join(dir, "data"),
		"PATH":               os.Getenv("PATH"),
	}
	for _, k := range []string{"JWT_SECRET", "FERNET_KEYS", "OLLAMA_HOST", "OLLAMA_MODEL", "OLLAMA_EMBED_MODEL", "LOG_LEVEL"} {
		if vars[k] != "" {
			env[k] = vars[k]
		}
	}
	if env["JWT_SECRET"] == "" {
		env["JWT_SECRET"] = secrets.JWTSecret
	}
	if env["FERNET_KEYS"] == "" {
		env["FERNET_KEYS"] = secrets.FernetKey
	}

	// The schema, the namespace and the search attributes, as a deploy's migrate job does them.
	migrate := exec.CommandContext(ctx, self, "migrate", "up")
	migrate.Env = envList(env)
	out, err := migrate.CombinedOutput()
	if err != nil {
		return fmt.Errorf("migrate up: %w\n%s", err, out)
	}
	log.Info("migrated", "output", strings.TrimSpace(string(out)))

	qdrantAddr, err := freeLocalAddr()
	if err != nil {
		return err
	}
	if err := c.start("qdrant-standin", env, nil, "qdrant-standin", "--addr", qdrantAddr); err != nil {
		return err
	}
	env["QDRANT_URL"] = "http://" + qdrantAddr
	ollamaHost := env["OLLAMA_HOST"]
	if ollamaHost == "" {
		ollamaHost = "http://127.0.0.1:11434"
	}
	llmNote := "real Ollama at " + ollamaHost
	if !ollamaAnswers(ctx, ollamaHost) {
		addr, err := freeLocalAddr()
		if err != nil {
			return err
		}
		if err := c.start("ollama-standin", env, nil, "ollama-standin", "--addr", addr); err != nil {
			return err
		}
		ollamaHost = "http://" + addr
		llmNote = "OLLAMA STAND-IN (scripted test double, not a language model) at " + ollamaHost
		fmt.Fprint(os.Stderr, standinBanner(ollamaHost))
	}
	env["OLLAMA_HOST"] = ollamaHost
	if err := waitTCP(ctx, qdrantAddr); err != nil {
		return err
	}

	var servers []string
	for _, name := range []string{datetime.Name, semantic.Name, ingest.Name, web.Name} {
		addr, err := freeLocalAddr()
		if err != nil {
			return err
		}
		if err := c.start("mcp-"+name, env, nil, "mcp", name, "--addr", addr); err != nil {
			return err
		}
		servers = append(servers, name+"=http://"+addr+"/mcp")
		if err := waitTCP(ctx, addr); err != nil {
			return fmt.Errorf("mcp %s: %w (log: %s)", name, err, c.logPath("mcp-"+name))
		}
	}
	env["MCP_SERVERS"] = strings.Join(servers, ",")

	var workerURLs, apiURLs, opsURLs []string
	for i := 1; i <= *workers; i++ {
		ops, err := freeLocalAddr()
		if err != nil {
			return err
		}
		name := "worker-" + strconv.Itoa(i)
		if err := c.start(name, env, map[string]string{"WORKER_METRICS_ADDR": ops}, "worker"); err != nil {
			return err
		}
		workerURLs = append(workerURLs, "http://"+ops+"/health")
	}
	port := *apiPort
	for i := 1; i <= *apis; i++ {
		for portOrFree(port) == 0 {
			port++
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		port++
		ops, err := freeLocalAddr()
		if err != nil {
			return err
		}
		url := "http://" + addr
		if i == 1 {
			env["PUBLIC_URL"] = url // browsers use the first API (behind a load balancer, its URL)
		}
		name := "api-" + strconv.Itoa(i)
		if err := c.start(name, env, map[string]string{"API_ADDR": addr, "METRICS_ADDR": ops}, "api"); err != nil {
			return err
		}
		apiURLs = append(apiURLs, url)
		opsURLs = append(opsURLs, "http://"+ops)
	}
	var health []string
	for _, u := range apiURLs {
		health = append(health, u+"/health")
	}
	for _, u := range append(health, workerURLs...) {
		if err := c.waitHealthy(ctx, u); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, clusterBanner(apiURLs, opsURLs, workerURLs, ui.URL, tmp.Address, pg.DSN("youworker"), llmNote, env["MCP_SERVERS"], dir, logDir))

	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case p := <-c.exited:
		return fmt.Errorf("%s exited; its log: %s", p.Name, c.logPath(p.Name))
	}
}

// cluster holds the processes runCluster started.
type cluster struct {
	self, logDir string
	log          *slog.Logger
	procs        []*devservices.Process
	exited       chan *devservices.Process
}

func (c *cluster) logPath(name string) string { return filepath.Join(c.logDir, name+".log") }

// start runs `youworker args...` with env plus overrides, logging to logs/<name>.log.
func (c *cluster) start(name string, env, overrides map[string]string, args ...string) error {
	all := maps.Clone(env)
	maps.Copy(all, overrides)
	p, err := devservices.StartProcess(name, c.self, args, envList(all), c.logPath(name))
	if err != nil {
		return err
	}
	if c.exited == nil {
		c.exited = make(chan *devservices.Process, 16)
	}
	c.procs = append(c.procs, p)
	c.log.Info("started", "process", name, "pid", p.PID(), "log", c.logPath(name))
	done := p.Done()
	go func() {
		<-done
		select {
		case c.exited <- p:
		default:
		}
	}()
	return nil
}

// waitHealthy waits until url answers 200, or fails when a process exits first.
func (c *cluster) waitHealthy(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- waitHTTP(ctx, url) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("%s did not become healthy: %w", url, err)
		}
		return nil
	case p := <-c.exited:
		return fmt.Errorf("%s exited during start-up; its log: %s", p.Name, c.logPath(p.Name))
	}
}

// stop drains the processes in reverse start order: APIs, then workers, then the rest.
func (c *cluster) stop() {
	for _, p := range slices.Backward(c.procs) {
		if p.PID() == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		if err := p.Stop(ctx, 40*time.Second); err != nil {
			c.log.Warn("stop failed", "process", p.Name, "error", err)
		} else {
			c.log.Info("stopped", "process", p.Name)
		}
		cancel()
	}
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func freeLocalAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitTCP(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func clusterBanner(apis, ops, workers []string, ui, temporal, dsn, llm, mcp, dir, logs string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nYouWorker cluster is up (the production topology, one process per part).\n")
	fmt.Fprintf(&b, "  Console      %s/console/   (in a browser, on API 1: PUBLIC_URL's origin)\n", apis[0])
	for i, u := range apis {
		fmt.Fprintf(&b, "  API %d        %s   (operator: %s/metrics, %s/health/detailed)\n", i+1, u, ops[i], ops[i])
	}
	for i, u := range workers {
		fmt.Fprintf(&b, "  Worker %d     %s\n", i+1, u)
	}
	fmt.Fprintf(&b, "  Temporal UI  %s   (server %s, persistence and visibility on Postgres)\n", ui, temporal)
	fmt.Fprintf(&b, "  Postgres     %s\n", dsn)
	fmt.Fprintf(&b, "  LLM          %s\n", llm)
	fmt.Fprintf(&b, "  Vectors      Qdrant path (QDRANT_URL) served by the QDRANT STAND-IN, a test double kept in memory\n")
	fmt.Fprintf(&b, "  MCP servers  %s\n", mcp)
	fmt.Fprintf(&b, "  State        %s (logs in %s)\n", dir, logs)
	body := fmt.Sprintf(`{"username":"ops-%s","password":"change-me-please"}`, randomSecret(4))
	fmt.Fprintf(&b, `
Try it (registers on API 1, logs in on API 2: any API serves any request):
  curl -sf %[1]s/v1/auth/register -H 'Content-Type: application/json' -d '%[3]s' && \
  curl -sf -c %[4]s/cookies.txt %[2]s/v1/auth/login -H 'Content-Type: application/json' -d '%[3]s' >/dev/null && \
  curl -s -b %[4]s/cookies.txt %[2]s/v1/auth/me

Ctrl-C stops everything.
`, apis[0], apis[len(apis)-1], body, dir)
	return b.String()
}
