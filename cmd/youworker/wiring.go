package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ollama "github.com/ollama/ollama/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/api"
	"github.com/youworker/youworker/chunk"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/toolbox"
	"github.com/youworker/youworker/transcribe"
	"github.com/youworker/youworker/vectors"
	"github.com/youworker/youworker/worker"
	"github.com/youworker/youworker/workflows"
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

func temporalOptions(cfg config.Config, log *slog.Logger, m client.MetricsHandler) client.Options {
	var compression client.GrpcCompression = &client.GrpcCompressionNone{}
	if cfg.TemporalGzip {
		compression = &client.GrpcCompressionGzip{}
	}
	return client.Options{
		HostPort:          cfg.TemporalAddress,
		Namespace:         cfg.TemporalNamespace,
		Logger:            tlog.NewStructuredLogger(log.With("component", "temporal")),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: compression},
		Interceptors:      telemetry.TemporalInterceptors(),
		MetricsHandler:    m, // nil: none
	}
}

// dialTemporal connects to Temporal, retrying until it answers or ctx ends, so a worker started
// before the Temporal server (compose, Kubernetes) waits for it instead of crash-looping.
func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger, m client.MetricsHandler) (client.Client, error) {
	delay := 500 * time.Millisecond
	for {
		c, err := client.DialContext(ctx, temporalOptions(cfg, log, m))
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
	// No client timeout: a generation streams for as long as the activity's context allows.
	return ollama.NewClient(u, &http.Client{Transport: telemetry.Transport(http.DefaultTransport, "ollama")}), nil
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
func (a *app) healthChecks() []api.Check {
	cfg, st, tc, llm, catalog := a.cfg, a.store, a.temporal, a.ollama, a.catalog
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
			return modelsPulled(ctx, llm, cfg)
		}},
		{Name: "vector_store", Required: true, Probe: a.vectors.Ping},
	}
	for _, srv := range catalog.Servers() {
		checks = append(checks, api.Check{Name: "mcp:" + srv.Name, Probe: func(ctx context.Context) error {
			return catalog.Ping(ctx, srv.Name)
		}})
	}
	// The Whisper endpoint of voice and audio documents: not_configured without WHISPER_URL.
	whisper := api.Check{Name: "whisper"}
	if cfg.VoiceEnabled() {
		wc := &transcribe.Client{URL: cfg.WhisperURL, APIKey: cfg.WhisperAPIKey}
		whisper.Probe = wc.Ping
	}
	return append(checks, whisper)
}

// modelsPulled reports whether Ollama answers and has the chat and embedding models: an Ollama
// without them answers its version fine, yet fails every turn and every ingestion.
func modelsPulled(ctx context.Context, llm *ollama.Client, cfg config.Config) error {
	list, err := llm.List(ctx)
	if err != nil {
		return err
	}
	have := make(map[string]bool, 2*len(list.Models))
	for _, m := range list.Models {
		have[modelTag(m.Name)], have[modelTag(m.Model)] = true, true
	}
	var missing []error
	for _, m := range []struct{ variable, name string }{{"OLLAMA_MODEL", cfg.ChatModel}, {"OLLAMA_EMBED_MODEL", cfg.EmbedModel}} {
		if !have[modelTag(m.name)] {
			missing = append(missing, fmt.Errorf("%s %q is not pulled on the Ollama at %s (run: ollama pull %s)",
				m.variable, m.name, cfg.OllamaHost, m.name))
		}
	}
	return errors.Join(missing...)
}

// modelTag names a model as Ollama lists it: with the ":latest" tag when it has none.
func modelTag(name string) string {
	if name == "" || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return name
	}
	return name + ":latest"
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
	stopTracing, err := startTracing(ctx, telemetry.ServiceAPI, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return serveAPI(ctx, cfg, log)
}

// app holds the clients every YouWorker process shares, built from the configuration.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	blobs    *store.Blobs
	box      *encryption.Box
	temporal client.Client
	ollama   *ollama.Client
	catalog  *toolbox.Catalog
	vectors  vectors.Store
	guard    *ssrf.Guard
	mcpGuard *ssrf.Guard
	remote   *activities.Remote
	intake   *intake.Service
	searcher *knowledge.Searcher
	// reg holds the process's metrics: Go and process, the Temporal SDK's, vector searches, and
	// what the API or the worker adds.
	reg     *prometheus.Registry
	closers []func()
}

// newApp connects everything. With waitTemporal the Temporal client dials (retrying until it
// answers, for workers); otherwise it connects lazily (the API starts without Temporal and
// reports it in /health/detailed).
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger, waitTemporal bool) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			a.close() // what opened before the failure (the result is nil by then)
		}
	}()
	if a.store, err = openStore(cfg, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.store.Close() })
	a.blobs = a.store.Blobs(cfg.BlobDir)
	if a.box, err = encryption.New(cfg.FernetKeys, encryption.LegacyReads(cfg.LegacyReads)); err != nil {
		return nil, err
	}
	temporalMetrics, stopMetrics := metrics.Temporal(a.reg, log)
	a.closers = append(a.closers, func() { _ = stopMetrics.Close() })
	if waitTemporal {
		a.temporal, err = dialTemporal(ctx, cfg, log, temporalMetrics)
	} else {
		a.temporal, err = client.NewLazyClient(temporalOptions(cfg, log, temporalMetrics))
	}
	if err != nil {
		return nil, fmt.Errorf("temporal client: %w", err)
	}
	a.closers = append(a.closers, a.temporal.Close)
	if a.ollama, err = ollamaClient(cfg); err != nil {
		return nil, err
	}
	if a.catalog, err = toolCatalog(cfg, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.catalog.Close() })
	if a.vectors, err = openVectors(ctx, cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.vectors.Close() })
	searches, err := metrics.VectorSearch(a.reg)
	if err != nil {
		return nil, err
	}
	a.vectors = vectors.Timed(a.vectors, func(d time.Duration) { searches.Observe(d.Seconds()) })
	if a.guard, err = ssrf.New(ssrf.Options{Allow: cfg.FetchAllow, MaxBytes: cfg.FetchMaxBytes, Timeout: cfg.FetchTimeout,
		Logger: log.With("component", "ssrf")}); err != nil {
		return nil, fmt.Errorf("SSRF_ALLOW: %w", err)
	}
	if a.mcpGuard, err = ssrf.New(ssrf.Options{Allow: append(slices.Clone(cfg.FetchAllow), cfg.MCPAllowHosts...),
		Timeout: cfg.MCPTimeout + 5*time.Second, Logger: log.With("component", "ssrf-mcp")}); err != nil {
		return nil, fmt.Errorf("MCP_ALLOWED_HOSTS: %w", err)
	}
	a.remote = &activities.Remote{Store: a.store, HTTPClient: a.mcpGuard.Client(), TTL: cfg.MCPListTTL, MaxResult: cfg.ToolResultMax,
		Limits: toolLimits(cfg), Logger: log}
	a.closers = append(a.closers, a.remote.Close)
	a.intake = &intake.Service{Store: a.store, Blobs: a.blobs, Temporal: a.temporal, TaskQueue: cfg.TaskQueue,
		Limits: ingestLimits(cfg), Guard: a.guard, Vectors: a.vectors, EmbedModel: cfg.EmbedModel,
		MaxUpload: cfg.MaxUploadBytes, TempDir: tempDir(cfg), Log: log.With("component", "intake")}
	a.searcher = &knowledge.Searcher{Store: a.store, Vectors: a.vectors, Ollama: a.ollama, EmbedModel: cfg.EmbedModel}
	return a, nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// openVectors opens Qdrant when QDRANT_URL is set, else the embedded store under DATA_DIR.
func openVectors(ctx context.Context, cfg config.Config) (vectors.Store, error) {
	if cfg.QdrantURL != "" {
		return vectors.OpenQdrant(ctx, vectors.QdrantConfig{URL: cfg.QdrantURL, APIKey: cfg.QdrantAPIKey})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	return vectors.OpenSQLite(filepath.Join(cfg.DataDir, "vectors.db"))
}

func tempDir(cfg config.Config) string {
	dir := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return os.TempDir()
	}
	return dir
}

func ingestLimits(cfg config.Config) workflows.IngestLimits {
	return workflows.IngestLimits{StageTimeout: cfg.IngestTimeout, EmbedTimeout: cfg.IngestTimeout, Heartbeat: cfg.IngestHeartbeat,
		FinishTimeout: cfg.DBOutageTimeout,
		MaxAttempts:   int32(cfg.IngestAttempts), SliceChunks: cfg.IngestSlice, MaxSlices: 100}
}

// serveAPI runs the API until ctx ends.
func serveAPI(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := newApp(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer a.close()
	srv, err := api.New(api.Deps{Config: cfg, Store: a.store, Temporal: a.temporal, Box: a.box, Intake: a.intake,
		Searcher: a.searcher, Tools: a.catalog, Models: a.ollama, MCPGuard: a.mcpGuard, ToolLimits: toolLimits(cfg), Checks: a.healthChecks(),
		Logger: log, Registry: a.reg})
	if err != nil {
		return err
	}
	defer srv.Close()
	if cfg.MetricsAddr == "" {
		return srv.ListenAndServe(ctx, cfg.APIAddr)
	}
	// Both listeners bind before either serves, so a taken port fails the start at once.
	ops, err := metrics.Listen(cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		_ = ops.Close()
		return fmt.Errorf("listen %s: %w", cfg.APIAddr, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return metrics.Serve(gctx, ops, srv.Registry(), metrics.WithProfiles(srv.OpsHandlers(), cfg.Pprof), log)
	})
	g.Go(func() error { return srv.Serve(gctx, ln) })
	return g.Wait()
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
	stopTracing, err := startTracing(ctx, telemetry.ServiceWorker, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return serveWorker(ctx, cfg, log, true)
}

// newExtractor builds the document extractor with the configured limits, failing when they
// cannot be enforced (no prlimit). The formats parsed in Go are parsed in a process of their own
// under the same limits as the tools (sandbox).
func newExtractor(cfg config.Config, log *slog.Logger) (*extract.Extractor, error) {
	sandbox, err := sandbox(log)
	if err != nil {
		return nil, err
	}
	x := extract.New(extract.Options{WhisperURL: cfg.WhisperURL, WhisperModel: cfg.WhisperModel, WhisperAPIKey: cfg.WhisperAPIKey,
		HTTPClient: &http.Client{Transport: telemetry.Transport(http.DefaultTransport, "whisper")}, Logger: log, Timeout: cfg.ExtractTimeout,
		MaxMemory: cfg.ExtractMaxMemory, MaxCPU: cfg.ExtractMaxCPU, MaxPixels: cfg.OCRMaxPixels, MaxOCRPages: ocrPages(cfg.OCRMaxPDFPages),
		MaxPartBytes: cfg.ExtractMaxPart, MaxUnpackedBytes: cfg.ExtractMaxUnpacked, Sandbox: sandbox, SandboxMinBytes: cfg.ExtractSandboxMin})
	if err := x.Check(); err != nil {
		return nil, fmt.Errorf("EXTRACT_MAX_MEMORY_BYTES, EXTRACT_MAX_CPU: %w", err)
	}
	return x, nil
}

// ocrPages is the extractor's MaxOCRPages for OCR_MAX_PDF_PAGES, whose 0 turns the OCR of PDFs off.
func ocrPages(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// extractBinary is the slim sandbox binary (cmd/youworker-extract), installed next to youworker.
const extractBinary = "youworker-extract"

// sandbox is the command line of the extraction sandbox: youworker-extract next to this binary
// (`make build` and the image install both), else this binary's own extract-file command, which
// parses the same but costs ~0.2 s of CPU per document to start.
func sandbox(log *slog.Logger) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the extraction sandbox runs next to this binary: %w", err)
	}
	slim := filepath.Join(filepath.Dir(self), extractBinary)
	if st, err := os.Stat(slim); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return []string{slim}, nil
	}
	log.Warn("youworker-extract not found next to youworker; parsing documents with youworker extract-file, which costs ~0.2 s of CPU per document (make build installs both)",
		"looked_for", slim)
	return []string{self, "extract-file"}, nil
}

// serveWorker runs the worker. With operatorEndpoints it serves GET /health (the worker's state)
// and /metrics on WORKER_METRICS_ADDR (`youworker dev` only when WORKER_METRICS_ADDR is set).
func serveWorker(ctx context.Context, cfg config.Config, log *slog.Logger, operatorEndpoints bool) error {
	health := worker.NewHealth()
	var ops net.Listener
	if operatorEndpoints && cfg.WorkerMetricsAddr != "" {
		var err error
		if ops, err = metrics.Listen(cfg.WorkerMetricsAddr); err != nil {
			return fmt.Errorf("WORKER_METRICS_ADDR: %w", err)
		}
		defer ops.Close()
	}
	a, err := newApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.close()
	extractor, err := newExtractor(cfg, log.With("component", "extract"))
	if err != nil {
		return err
	}
	product, err := metrics.NewWorker(a.reg, a.store.TurnsWaitingApproval, log)
	if err != nil {
		return err
	}
	w := worker.New(worker.Deps{Metrics: product, Client: a.temporal, TaskQueue: cfg.TaskQueue, StopTimeout: cfg.WorkerStopTimeout,
		HeartbeatThrottle: cfg.HeartbeatThrottle, Store: a.store, Box: a.box, Ollama: a.ollama, Catalog: a.catalog, Remote: a.remote,
		ToolRules: cfg.ToolRules(), TaintApproval: cfg.TaintApproval, TokenFlush: cfg.TokenFlushInterval, HistoryLimit: cfg.HistoryLimit, BudgetOutput: int64(cfg.BudgetOutput), Logger: log,
		Ingest: worker.IngestDeps{Blobs: a.blobs, Guard: a.guard, Extractor: extractor,
			Chunking: chunk.Options{MaxTokens: cfg.ChunkMaxTokens, Overlap: cfg.ChunkOverlap},
			Vectors:  a.vectors, EmbedModel: cfg.EmbedModel, EmbedBatch: cfg.EmbedBatch, EmbedConcurrency: cfg.EmbedConcurrency,
			TempDir: tempDir(cfg)},
		ReaperGrace: cfg.TurnReaperGrace, Intake: a.intake, Health: health, Deployment: deployment(cfg)})
	log.Info("worker starting", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress,
		"deployment", cfg.WorkerDeployment, "build_id", deployment(cfg).BuildID)
	go ensureReaperSchedule(ctx, a.temporal, cfg, log)
	if d := deployment(cfg); d.Versioned() {
		go func() {
			promoted, err := worker.PromoteIfFirst(ctx, a.temporal, d, log)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("checking the worker deployment's current build failed", "deployment", d.Name, "error", err)
			case promoted:
				log.Info("first build of the worker deployment: made it current", "deployment", d.Name, "build_id", d.BuildID)
			}
		}()
	}
	if ops == nil {
		return worker.Run(ctx, w, health, log)
	}
	g, gctx := errgroup.WithContext(ctx)
	// The endpoint outlives the drain (it reports "draining"), so it stops after the worker.
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	g.Go(func() error {
		return metrics.Serve(opsCtx, ops, a.reg, metrics.WithProfiles(map[string]http.Handler{"/health": health, "/livez": health.Live()}, cfg.Pprof), log)
	})
	g.Go(func() error {
		defer stopOps()
		return worker.Run(gctx, w, health, log)
	})
	return g.Wait()
}

// deployment is the worker's Temporal Worker Deployment version (unversioned when the name is empty).
func deployment(cfg config.Config) worker.Deployment {
	build := cfg.WorkerBuildID
	if build == "" {
		build = version
	}
	return worker.Deployment{Name: cfg.WorkerDeployment, BuildID: build}
}

// toolLimits bound what a registered MCP server may offer (MCP_MAX_TOOLS_PER_SERVER, …).
func toolLimits(cfg config.Config) toolbox.Limits {
	return toolbox.Limits{MaxTools: cfg.MCPMaxTools, MaxDescription: cfg.MCPMaxDesc, MaxSchemaBytes: cfg.MCPMaxSchema}
}

// ensureReaperSchedule creates (or updates) the turn reaper's schedule, retrying until it
// succeeds or ctx ends: a worker starts even while Temporal refuses it.
func ensureReaperSchedule(ctx context.Context, c client.Client, cfg config.Config, log *slog.Logger) {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		err := workflows.EnsureReaperSchedule(ctx, c, cfg.TaskQueue, cfg.TurnReaperEvery)
		if err == nil {
			log.Info("turn reaper scheduled", "schedule_id", workflows.ReaperScheduleID(cfg.TaskQueue), "every", cfg.TurnReaperEvery)
			return
		}
		log.Warn("scheduling the turn reaper failed; retrying", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
