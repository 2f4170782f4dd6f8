// Package api is YouWorker's REST API (gin): routing, middleware, handlers, the error envelope,
// SSE streams and the OpenAPI document.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/account"
	"github.com/youworker/youworker/analytics"
	"github.com/youworker/youworker/auth"
	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/toolbox"
)

// Deps are what the API needs, wired by hand in cmd/youworker.
type Deps struct {
	Config config.Config
	Store  *store.Store
	Checks []Check // dependencies reported by /health/detailed
	// Temporal starts, queries and signals workflows.
	Temporal client.Client
	// Box encrypts message content at rest.
	Box *encryption.Box
	// Intake accepts documents; Searcher answers semantic searches.
	Intake   *intake.Service
	Searcher *knowledge.Searcher
	// Tools is the built-in tool catalog; MCPGuard checks and carries requests to registered servers.
	Tools    *toolbox.Catalog
	MCPGuard *ssrf.Guard
	// ToolLimits bound what a registered MCP server may offer; registration over them is refused.
	ToolLimits toolbox.Limits
	// Models lists Ollama's models (GET /v1/models; the model check of /v1/chat/completions).
	Models modelLister
	Logger *slog.Logger
	// Registry receives the API's metrics; nil makes a private one.
	Registry *prometheus.Registry
}

// Server is the HTTP API.
type Server struct {
	cfg     config.Config
	store   *store.Store
	tokens  *auth.Tokens
	checks  []Check
	log     *slog.Logger
	metrics *httpMetrics
	reg     *prometheus.Registry
	engine  *gin.Engine
	now     func() time.Time

	temporal client.Client
	box      *encryption.Box
	intake   documentIntake
	searcher searcher
	tools    toolCatalog
	mcpGuard *ssrf.Guard
	// toolLimits bound a registered server's tools (MCP_MAX_TOOLS_PER_SERVER, …).
	toolLimits toolbox.Limits
	sso        *oidcProvider
	// trustedProxies are the parsed TRUSTED_PROXIES (the trusted-header mode believes only them).
	trustedProxies config.IPSet
	events         *eventHub
	reaper         *chat.Reaper
	chat           chatService
	branches       branchService
	exporter       accountExporter
	closer         accountCloser
	analytics      analyticsService
	models         modelLister
	limits         *limiter
	callers        *callerCache // nil when AUTH_CACHE_TTL is 0
	// stopping ends long-lived streams when the server shuts down; clients resume elsewhere with
	// Last-Event-ID.
	stopping context.Context
	stop     context.CancelFunc

	// publicOrigin is PUBLIC_URL's origin, the only one counted as the API's own.
	publicOrigin string
	// mcp serves the MCP endpoint (api/mcp.go) to the browser origins mcpOrigins allows.
	mcp        *server.StreamableHTTPServer
	mcpOrigins mcpservers.Origins
	// voice transcribes audio through WHISPER_URL (api/audio.go); nil when it is not set.
	voice transcriber
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// sseClients are the event streams open now (turns, runs and streamed completions).
	sseClients prometheus.Gauge
	// sseEvents are the events written to those streams.
	sseEvents prometheus.Counter
	// logReads are the reads of an event log by those streams: a stream's first (catching up
	// with what was written before it subscribed), and one per gap notifications left.
	logReads prometheus.Counter
	// rateLimited are the requests refused by a rate limit, by class (auth, turns, ingest, search, transcriptions).
	rateLimited *prometheus.CounterVec
	// turnStart is the time from a turn's request to its workflow started, by route.
	turnStart *prometheus.HistogramVec
	// turnsEnded are the turns this API finished itself, by outcome: a turn whose workflow was
	// gone (failed TURN_LOST when a new message found it, cancelled by its user) or never started
	// (Temporal unreachable); metrics.TurnsTotal.
	turnsEnded *prometheus.CounterVec
}

// New builds the API and its routes.
func New(d Deps) (*Server, error) {
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "youworker_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "youworker_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "youworker_sse_clients", Help: "Event streams (SSE) open now: turns, ingestion runs and streamed completions.",
		}),
		sseEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "youworker_sse_events_delivered_total", Help: "Events written to event streams (SSE).",
		}),
		logReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "youworker_sse_log_reads_total", Help: "Reads of an event log by the streams following it (catching up on joining, gaps left by notifications, the poll).",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "youworker_rate_limited_total", Help: "Requests refused by a rate limit, by class (auth, turns, ingest, search, transcriptions).",
		}, []string{"class"}),
		turnStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "youworker_turn_start_duration_seconds", Help: "Time from a turn's request to its workflow started (checks, store write, workflow start), by route (messages, completions, regenerate, edit).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"route"}),
		turnsEnded: metrics.TurnsTotal(),
	}
	if err := registerAll(reg, m.requests, m.latency, m.sseClients, m.sseEvents, m.logReads, m.rateLimited, m.turnStart, m.turnsEnded,
		collectors.NewDBStatsCollector(d.Store.SQL(), "youworker")); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     d.Config,
		store:   d.Store,
		tokens:  auth.NewTokens(d.Config.JWTSecret, d.Config.JWTIssuer, d.Config.JWTAudience, d.Config.AccessTokenTTL, d.Config.JWTPrevious),
		checks:  d.Checks,
		log:     d.Logger,
		metrics: m,
		reg:     reg,
		now:     func() time.Time { return time.Now().UTC() },
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.temporal, s.box, s.mcpGuard = d.Temporal, d.Box, d.MCPGuard
	if d.Searcher != nil { // a nil *knowledge.Searcher must stay a nil interface
		s.searcher = d.Searcher
	}
	if d.Tools != nil { // a nil *toolbox.Catalog must stay a nil interface
		s.tools = d.Tools
	}
	if d.Intake != nil { // a nil *intake.Service must stay a nil interface
		s.intake = d.Intake
	}
	s.toolLimits = d.ToolLimits
	s.exporter = &account.Exporter{Store: s.store, Now: s.now}
	s.closer = &account.Closer{Store: s.store, Temporal: s.temporal, TaskQueue: s.cfg.TaskQueue, Now: s.now, Log: s.log}
	s.models = d.Models
	s.analytics = &analytics.Service{Store: s.store, Now: s.now,
		Limits: analytics.Limits{MaxDays: s.cfg.AnalyticsMaxDays, MaxBuckets: s.cfg.AnalyticsMaxBuckets}}
	s.reaper = &chat.Reaper{Store: s.store, Box: s.box, Temporal: s.temporal, Grace: s.cfg.TurnReaperGrace, Logger: s.log,
		Finished: func(status string) { m.turnsEnded.WithLabelValues(status).Inc() }}
	chats := &chat.Service{Store: s.store, Box: s.box, Temporal: s.temporal, Reaper: s.reaper, TaskQueue: s.cfg.TaskQueue,
		Limits: s.turnLimits(), MaxMessageChars: s.cfg.MaxMessageChars, Now: s.now, Log: s.log}
	s.chat, s.branches = chats, chats
	s.sso = s.newOIDC()
	s.trustedProxies = s.cfg.TrustedProxyIPs()
	s.publicOrigin = originOf(s.cfg.PublicURL)
	s.mcpOrigins = mcpservers.NewOrigins(s.cfg.MCPOrigins)
	s.mcp = s.newMCP()
	s.voice = newTranscriber(s.cfg)
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.events = newEventHub(d.Config.DatabaseURL, s.log)
	if s.cfg.AuthCacheTTL > 0 {
		s.callers = newCallerCache(s.cfg.AuthCacheTTL)
		s.events.callers = s.callers
	}
	go s.events.run(s.stopping)
	s.limits = newLimiter(s.store, s.cfg.RateSync, s.log)
	go s.limits.run(s.stopping)
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

func registerAll(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.engine }

// Registry is where the API's metrics are registered, for the metrics listener.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// OpsHandlers are the operator endpoints the metrics listener serves beside /metrics: the
// detailed health, unauthenticated there because only operators reach that address.
func (s *Server) OpsHandlers() map[string]http.Handler {
	return map[string]http.Handler{"/health/detailed": http.HandlerFunc(s.serveDetailedHealth)}
}

func (s *Server) routes() error {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	if telemetry.Enabled() {
		// First, so that every later middleware, the access log line included, runs in the
		// request's span; health probes are not traced.
		e.Use(otelgin.Middleware(telemetry.ServiceAPI, otelgin.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/health" })))
	}
	e.Use(requestID(), s.recovery(), s.accessLog(), s.securityHeaders(), s.ipAllowlist(), s.cors(), s.originCheck(),
		s.limitBody(), s.authenticate(), s.authorize())
	e.NoRoute(s.noRoute)
	e.NoMethod(s.noMethod)

	// /metrics and the detailed health are served to operators on METRICS_ADDR (OpsHandlers);
	// on the public port the detailed health answers administrators only.
	e.GET("/health", s.health)
	e.GET("/health/detailed", s.requireCaller, s.requireAdmin, s.healthDetailed)
	e.GET("/openapi.json", s.openAPI)
	e.GET("/", s.consoleHome)
	e.GET(consolePath+"*path", s.consoleFile)

	v1 := e.Group("/v1")
	a := v1.Group("/auth", s.clearCallersAfter)
	authLimit := s.rateLimit(s.authRate())
	a.POST("/register", authLimit, s.register)
	a.POST("/login", authLimit, s.login)
	a.POST("/refresh", authLimit, s.refresh)
	a.POST("/logout", s.logout)
	a.POST("/reauthenticate", authLimit, s.requireCaller, s.reauthenticate)
	a.GET("/me", s.requireCaller, s.me)
	a.GET("/csrf-token", s.requireCaller, s.csrfToken)
	if s.sso != nil {
		a.GET("/oidc/login", authLimit, s.oidcLogin)
		a.GET("/oidc/callback", authLimit, s.oidcCallback)
	}

	acct := v1.Group("/account", s.clearCallersAfter, s.requireCaller)
	acct.GET("", s.account)
	acct.POST("/api-keys", s.createAPIKey)
	acct.GET("/api-keys", s.listAPIKeys)
	acct.DELETE("/api-keys/:id", s.revokeAPIKey)
	acct.GET("/audit", s.accountAudit)
	acct.GET("/export", s.exportAccount)
	acct.DELETE("", s.deleteAccount)

	groups := v1.Group("/groups", s.clearCallersAfter, s.requireCaller)
	groups.POST("", s.createGroup)
	groups.GET("/me", s.myGroups)
	groups.GET("/:id", s.getGroup)
	groups.PUT("/:id", s.updateGroup)
	groups.DELETE("/:id", s.deleteGroup)
	groups.POST("/:id/members", s.addMember)
	groups.PUT("/:id/members/:user_id", s.setMemberRole)
	groups.DELETE("/:id/members/:user_id", s.removeMember)
	groups.GET("/:id/audit", s.groupAudit)
	groups.GET("/:id/budget", s.getGroupBudget)
	groups.PUT("/:id/budget", s.requireBudgetAdmin, s.setGroupBudget)
	groups.DELETE("/:id/budget", s.requireBudgetAdmin, s.deleteGroupBudget)

	budgets := v1.Group("/budgets", s.requireCaller)
	budgets.GET("/me", s.myBudgets)
	budgets.GET("/users/:user_id", s.getUserBudget)
	budgets.PUT("/users/:user_id", s.requireBudgetAdmin, s.setUserBudget)
	budgets.DELETE("/users/:user_id", s.requireBudgetAdmin, s.deleteUserBudget)

	sess := v1.Group("/sessions", s.requireCaller)
	sess.POST("", s.createSession)
	sess.GET("", s.listSessions)
	sess.GET("/:id", s.getSession)
	sess.PATCH("/:id", s.updateSession)
	sess.DELETE("/:id", s.deleteSession)
	sess.POST("/:id/messages", s.rateLimit(s.turnRate()), s.postMessage)
	sess.GET("/:id/turns/:turn_id", s.getTurn)
	sess.GET("/:id/turns/:turn_id/events", s.turnEvents)
	sess.POST("/:id/turns/:turn_id/cancel", s.cancelTurn)
	sess.POST("/:id/turns/:turn_id/approvals/:call_id", s.approveToolCall)
	sess.POST("/:id/turns/:turn_id/regenerate", s.rateLimit(s.turnRate()), s.regenerateTurn)
	sess.POST("/:id/messages/:message_id/edit", s.rateLimit(s.turnRate()), s.editMessage)
	sess.PUT("/:id/active-branch", s.setActiveBranch)
	v1.GET("/tool-runs", s.requireCaller, s.listToolRuns)
	v1.GET("/models", s.requireCaller, s.listModels)
	v1.GET("/models/*id", s.requireCaller, s.getModel)
	v1.POST("/chat/completions", s.requireCaller, s.rateLimit(s.turnRate()), s.chatCompletions)
	v1.POST("/audio/transcriptions", s.requireCaller, s.rateLimit(s.transcribeRate()), s.transcribeAudio)

	docs := v1.Group("/documents", s.requireCaller)
	ingestLimit := s.rateLimit(s.ingestRate())
	docs.POST("", ingestLimit, s.uploadDocument)
	docs.GET("", s.listDocuments)
	docs.GET("/:id", s.getDocument)
	docs.DELETE("/:id", s.deleteDocument)
	v1.POST("/ingest", s.requireCaller, ingestLimit, s.ingest)
	runs := v1.Group("/ingestion-runs", s.requireCaller)
	runs.GET("", s.listRuns)
	runs.GET("/:id", s.getRun)
	runs.GET("/:id/events", s.runEvents)
	runs.POST("/:id/cancel", s.cancelRun)
	v1.POST("/search", s.requireCaller, s.rateLimit(s.searchRate()), s.search)

	v1.GET("/tools", s.requireCaller, s.listTools)
	s.analyticsRoutes(v1.Group("/analytics", s.requireCaller))
	mcp := v1.Group("/mcp-servers", s.requireCaller)
	mcp.GET("", s.listMCPServers)
	mcp.POST("", s.registerMCPServer)
	mcp.DELETE("/:id", s.deleteMCPServer)
	mcp.POST("/:id/tools/:tool/approve", s.approveMCPTool)

	// The MCP endpoint for outside agents (api/mcp.go): stateless, so POST only (GET is a 405, as
	// the transport allows for a server that opens no stream).
	e.POST(mcpservers.EndpointPath, s.mcpOrigin, s.requireCaller, s.serveMCP)

	s.engine = e
	return nil
}

// Close stops the server's background work (the event listener) and ends open streams.
func (s *Server) Close() {
	s.stop()
}

// ListenAndServe serves on addr until ctx is cancelled, then drains in-flight requests for up to
// HTTP_SHUTDOWN_TIMEOUT.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.stop() // end event streams so Shutdown does not wait for them
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.log.Info("api draining", "timeout", s.cfg.ShutdownTimeout)
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
