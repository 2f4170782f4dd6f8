package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	ollama "github.com/ollama/ollama/api"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/youworker/youworker/api"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
	"github.com/youworker/youworker/worker"
)

func loadConfig() (config.Config, *slog.Logger, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return cfg, nil, err
	}
	return cfg, cfg.Logger(os.Stderr), nil
}

func openStore(cfg config.Config, log *slog.Logger) (*store.Store, error) {
	return store.Open(store.Options{
		URL:              cfg.DatabaseURL,
		PoolSize:         cfg.DBPoolSize,
		MaxOverflow:      cfg.DBMaxOverflow,
		ConnMaxLifetime:  cfg.DBConnMaxLifetime,
		ConnMaxIdleTime:  cfg.DBConnMaxIdleTime,
		PrePing:          cfg.DBPrePing,
		SlowQuery:        cfg.DBSlowQuery,
		StatementTimeout: cfg.DBStatementTimeout,
		Logger:           log,
	})
}

func temporalOptions(cfg config.Config, log *slog.Logger) client.Options {
	return client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal")),
	}
}

// dialTemporal connects to Temporal, retrying until it answers or ctx ends, so a worker started
// before the Temporal server (compose, Kubernetes) waits for it instead of crash-looping.
func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger) (client.Client, error) {
	delay := 500 * time.Millisecond
	for {
		c, err := client.DialContext(ctx, temporalOptions(cfg, log))
		if err == nil {
			return c, nil
		}
		log.Warn("temporal not reachable yet", "address", cfg.TemporalAddress, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to temporal at %s: %w", cfg.TemporalAddress, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// ollamaClient talks to Ollama with no retries of its own (Temporal owns retries) and no overall
// timeout (streams are long; the activity's context bounds each call).
func ollamaClient(cfg config.Config) (*ollama.Client, error) {
	u, err := url.Parse(cfg.OllamaHost)
	if err != nil {
		return nil, fmt.Errorf("OLLAMA_HOST: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	return ollama.NewClient(u, &http.Client{Transport: tr}), nil
}

// toolCatalog builds the MCP catalog of the built-in servers.
func toolCatalog(cfg config.Config, log *slog.Logger) (*toolbox.Catalog, error) {
	servers, err := cfg.ToolServers()
	if err != nil {
		return nil, err
	}
	var list []toolbox.Server
	for _, s := range servers {
		list = append(list, toolbox.Server{Name: s.Name, URL: s.URL, Timeout: cfg.MCPTimeout})
	}
	return toolbox.NewCatalog(list, toolbox.Options{TTL: cfg.MCPListTTL, MaxResultBytes: cfg.ToolResultMax,
		Logger: log.With("component", "mcp"), IdentitySecret: cfg.IdentitySecret()}), nil
}

// healthChecks are the dependencies /health/detailed reports.
func healthChecks(cfg config.Config, st *store.Store, tc client.Client, llm *ollama.Client, catalog *toolbox.Catalog) []api.Check {
	checks := []api.Check{
		{Name: "postgres", Required: true, Probe: st.Ping},
		{Name: "temporal", Required: true, Probe: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
		{Name: "worker", Required: false, Probe: func(ctx context.Context) error {
			return workerPolling(ctx, tc, cfg.TaskQueue)
		}},
		{Name: "llm", Required: cfg.LLMRequired, Probe: func(ctx context.Context) error {
			_, err := llm.Version(ctx)
			return err
		}},
		// The vector store arrives with document ingestion; until then it is reported, not probed.
		{Name: "vector_store", Required: false},
	}
	for _, srv := range catalog.Servers() {
		checks = append(checks, api.Check{Name: "mcp:" + srv.Name, Probe: func(ctx context.Context) error {
			return catalog.Ping(ctx, srv.Name)
		}})
	}
	return checks
}

// workerPolling reports whether some worker polled the task queue in the last minute.
func workerPolling(ctx context.Context, tc client.Client, taskQueue string) error {
	resp, err := tc.DescribeTaskQueue(ctx, taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	for _, p := range resp.GetPollers() {
		if t := p.GetLastAccessTime(); t != nil && time.Since(t.AsTime()) < time.Minute {
			return nil
		}
	}
	return errors.New("no worker is polling the task queue")
}

func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := loadConfig()
	if err != nil {
		return err
	}
	return serveAPI(ctx, cfg, log)
}

// serveAPI runs the API until ctx ends. Temporal is connected lazily: the API starts and reports
// Temporal as down in /health/detailed rather than refusing to start.
func serveAPI(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	tc, err := client.NewLazyClient(temporalOptions(cfg, log))
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer tc.Close()
	llm, err := ollamaClient(cfg)
	if err != nil {
		return err
	}
	box, err := encryption.New(cfg.FernetKeys)
	if err != nil {
		return err
	}
	catalog, err := toolCatalog(cfg, log)
	if err != nil {
		return err
	}
	defer catalog.Close()
	srv, err := api.New(api.Deps{Config: cfg, Store: st, Temporal: tc, Box: box,
		Checks: healthChecks(cfg, st, tc, llm, catalog), Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.ListenAndServe(ctx, cfg.APIAddr)
}

func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := loadConfig()
	if err != nil {
		return err
	}
	return serveWorker(ctx, cfg, log)
}

func serveWorker(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	tc, err := dialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	box, err := encryption.New(cfg.FernetKeys)
	if err != nil {
		return err
	}
	llm, err := ollamaClient(cfg)
	if err != nil {
		return err
	}
	catalog, err := toolCatalog(cfg, log)
	if err != nil {
		return err
	}
	defer catalog.Close()
	w := worker.New(worker.Deps{Client: tc, TaskQueue: cfg.TaskQueue, StopTimeout: cfg.WorkerStopTimeout,
		HeartbeatThrottle: cfg.HeartbeatThrottle, Store: st, Box: box, Ollama: llm, Catalog: catalog,
		ApprovalTools: cfg.ApprovalTools, TokenFlush: cfg.TokenFlushInterval, HistoryLimit: cfg.HistoryLimit, Logger: log})
	log.Info("worker starting", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress)
	return worker.Run(ctx, w, log)
}
