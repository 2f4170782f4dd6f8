// Package config reads YouWorker's configuration from environment variables.
//
// Every variable, its default and its meaning is declared once, in the struct tags below; the
// README's configuration table is checked against them by a test.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/youworker/youworker/keyring"
	"github.com/youworker/youworker/logging"
	"github.com/youworker/youworker/policy"
)

// Config is the whole configuration of every YouWorker process.
type Config struct {
	// Logging.
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json" desc:"json or text"`
	DataDir   string `env:"DATA_DIR" envDefault:".data" desc:"directory for local state (embedded vector store, blobs, dev keys)"`

	// HTTP API.
	APIAddr            string        `env:"API_ADDR" envDefault:":8080" desc:"listen address of the API"`
	PublicURL          string        `env:"PUBLIC_URL" envDefault:"http://localhost:8080" desc:"external base URL of the API (links, SSO callbacks)"`
	MaxBodyBytes       int64         `env:"MAX_BODY_BYTES" envDefault:"1048576" desc:"request body cap for JSON routes (413 above it)"`
	ReadHeaderTimeout  time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"10s" desc:"time allowed to read request headers"`
	ShutdownTimeout    time.Duration `env:"HTTP_SHUTDOWN_TIMEOUT" envDefault:"30s" desc:"grace period for in-flight requests and streams on SIGTERM"`
	TrustedProxies     []string      `env:"TRUSTED_PROXIES" envSeparator:"," desc:"CIDRs or IPs whose X-Forwarded-For is believed; empty trusts none"`
	AllowRegistration  bool          `env:"ALLOW_REGISTRATION" envDefault:"true" desc:"allow POST /v1/auth/register (403 when false)"`
	CookieSecureSet    *bool         `env:"COOKIE_SECURE" desc:"mark auth cookies Secure; unset = true when PUBLIC_URL is https://, false when it is http:// (browsers drop Secure cookies over plain HTTP on any host but localhost, so login would fail)"`
	HealthCheckTimeout time.Duration `env:"HEALTH_CHECK_TIMEOUT" envDefault:"2s" desc:"per-dependency timeout of /health/detailed"`
	MetricsAddr        string        `env:"METRICS_ADDR" envDefault:"127.0.0.1:9464" desc:"listen address of the operator endpoints /metrics and /health/detailed (unauthenticated: keep it off the public network); empty = not served (on API_ADDR /metrics is never served and /health/detailed answers administrators only)"`
	Pprof              bool          `env:"PPROF" envDefault:"false" desc:"also serve Go's runtime profiles (/debug/pprof/: CPU, heap, goroutines, trace) on METRICS_ADDR and WORKER_METRICS_ADDR, for diagnosing CPU and memory; off by default (anyone reaching those addresses could start a profile)"`
	WorkerMetricsAddr  string        `env:"WORKER_METRICS_ADDR" envDefault:"127.0.0.1:9465" desc:"listen address of the worker's operator endpoints GET /health (readiness: 200 while it polls, 503 while it starts or drains), GET /livez (liveness: 503 only once it stopped) and /metrics (unauthenticated: keep it off the public network); empty = not served"`

	// Authentication.
	JWTSecret       string        `env:"JWT_SECRET" desc:"secret (at least 32 bytes) from which the keys of access tokens, CSRF tokens, MCP caller identities and the SSO state cookie are derived (HKDF, one key each); required"`
	JWTPrevious     string        `env:"JWT_SECRET_PREVIOUS" desc:"a second secret whose tokens are still accepted but which never signs: the previous JWT_SECRET during a rotation (or the next one, set before it signs, for rolling restarts); unset = none"`
	JWTIssuer       string        `env:"JWT_ISSUER" envDefault:"youworker" desc:"iss claim issued and required"`
	JWTAudience     string        `env:"JWT_AUDIENCE" envDefault:"youworker-api" desc:"aud claim issued and required"`
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m" desc:"lifetime of access tokens"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h" desc:"lifetime of refresh tokens (rotated on every use)"`

	// Postgres.
	DatabaseURL        string        `env:"DATABASE_URL" desc:"Postgres connection URL; required"`
	DatabasePassword   string        `env:"DATABASE_PASSWORD" desc:"password of the DATABASE_URL user, given apart so that any character (/, +, @, :, …) works: it is escaped into the URL, which then must not hold a password itself; unset = the URL's own"`
	DBPoolSize         int           `env:"DB_POOL_SIZE" envDefault:"10" desc:"connections kept open (idle pool)"`
	DBMaxOverflow      int           `env:"DB_MAX_OVERFLOW" envDefault:"20" desc:"extra connections allowed above the pool under load"`
	DBConnMaxLifetime  time.Duration `env:"DB_CONN_MAX_LIFETIME" envDefault:"30m" desc:"connections are recycled after this long"`
	DBConnMaxIdleTime  time.Duration `env:"DB_CONN_MAX_IDLE_TIME" envDefault:"5m" desc:"idle overflow connections are closed after this long"`
	DBPrePing          bool          `env:"DB_PRE_PING" envDefault:"true" desc:"ping a pooled connection idle for over a second before reusing it (a dead one is replaced)"`
	DBSlowQuery        time.Duration `env:"DB_SLOW_QUERY_THRESHOLD" envDefault:"1s" desc:"queries slower than this are logged at WARN with their SQL"`
	DBStatementTimeout time.Duration `env:"DB_STATEMENT_TIMEOUT" envDefault:"30s" desc:"server-side statement_timeout of every connection"`

	// Temporal.
	TemporalAddress   string        `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233" desc:"Temporal frontend host:port"`
	TemporalNamespace string        `env:"TEMPORAL_NAMESPACE" envDefault:"default" desc:"Temporal namespace"`
	TemporalRetention time.Duration `env:"TEMPORAL_NAMESPACE_RETENTION" envDefault:"720h" desc:"workflow history retention of the namespace when youworker migrate up registers it (an existing namespace keeps its own)"`
	TaskQueue         string        `env:"TEMPORAL_TASK_QUEUE" envDefault:"youworker" desc:"task queue of the YouWorker worker"`
	TemporalGzip      bool          `env:"TEMPORAL_GRPC_GZIP" envDefault:"false" desc:"gzip requests to Temporal (the SDK's default); off because workflow payloads here are ids, so it only costs CPU on both ends — turn it on across a slow link"`
	WorkerStopTimeout time.Duration `env:"WORKER_STOP_TIMEOUT" envDefault:"30s" desc:"on SIGTERM the worker stops polling and lets running activities finish this long"`
	WorkerDeployment  string        `env:"WORKER_DEPLOYMENT_NAME" desc:"Temporal Worker Deployment the worker belongs to; set, it runs versioned: a turn or ingestion stays on the build it started on (pinned) while new ones go to the deployment's current build; empty = unversioned (rolling restarts with GetVersion-guarded changes)"`
	WorkerBuildID     string        `env:"WORKER_BUILD_ID" desc:"the worker's build id within WORKER_DEPLOYMENT_NAME; empty = the binary's version (youworker version)"`

	// LLM.
	OllamaHost   string   `env:"OLLAMA_HOST" envDefault:"http://127.0.0.1:11434" desc:"Ollama base URL"`
	ChatModel    string   `env:"OLLAMA_MODEL" envDefault:"llama3.1:8b" desc:"default chat model of new sessions"`
	ModelAliases []string `env:"MODEL_ALIASES" envSeparator:"," desc:"model names clients may use for Ollama models on /v1/chat/completions and /v1/models, as alias=model pairs, e.g. gpt-4o-mini=llama3.1:8b"`
	EmbedModel   string   `env:"OLLAMA_EMBED_MODEL" envDefault:"nomic-embed-text" desc:"embedding model"`
	LLMRequired  bool     `env:"LLM_REQUIRED" envDefault:"true" desc:"whether /health/detailed answers 503 when Ollama is down"`

	// Encryption at rest.
	FernetKeys  []string `env:"FERNET_KEYS" envSeparator:"," desc:"comma-separated Fernet keys; the first encrypts, all decrypt (youworker keys generate); required"`
	LegacyReads bool     `env:"ENCRYPTION_LEGACY_READS" envDefault:"true" desc:"read ciphertext written before ciphertext was bound to its row (Fernet tokens of earlier versions); set false once youworker keys rotate has run after every process was upgraded, so that no unbound ciphertext is accepted"`

	// Chat turns.
	MaxMessageChars    int           `env:"MAX_MESSAGE_CHARS" envDefault:"32000" desc:"longest user message accepted (400 above it)"`
	ImageMaxBytes      int           `env:"IMAGE_MAX_BYTES" envDefault:"2097152" desc:"largest image (decoded bytes) a /v1/chat/completions message may carry as a data: URL (400 above it)"`
	ImageMaxCount      int           `env:"IMAGE_MAX_COUNT" envDefault:"4" desc:"most images one /v1/chat/completions request may carry (0 refuses images); the route's body cap grows by this many images"`
	TurnMaxSteps       int           `env:"TURN_MAX_STEPS" envDefault:"8" desc:"model calls per turn; a model still calling tools after that fails the turn (STEP_LIMIT_EXCEEDED)"`
	LLMTimeout         time.Duration `env:"LLM_TIMEOUT" envDefault:"5m" desc:"one model call, start to finish"`
	LLMHeartbeat       time.Duration `env:"LLM_HEARTBEAT_TIMEOUT" envDefault:"15s" desc:"a model call whose worker went silent this long is retried on another worker"`
	LLMMaxAttempts     int           `env:"LLM_MAX_ATTEMPTS" envDefault:"4" desc:"attempts per model call before the turn fails with LLM_UNAVAILABLE"`
	ToolTimeout        time.Duration `env:"TOOL_TIMEOUT" envDefault:"60s" desc:"one tool call, start to finish (servers may set a shorter one)"`
	ToolHeartbeat      time.Duration `env:"TOOL_HEARTBEAT_TIMEOUT" envDefault:"10s" desc:"a tool call whose worker went silent this long is retried on another worker (with the same idempotency key)"`
	ToolMaxAttempts    int           `env:"TOOL_MAX_ATTEMPTS" envDefault:"3" desc:"attempts per tool call on transport failures; then the model is told the tool failed"`
	ApprovalTimeout    time.Duration `env:"APPROVAL_TIMEOUT" envDefault:"15m" desc:"how long a tool call waits for the user's approval before it counts as denied"`
	TokenFlushInterval time.Duration `env:"TOKEN_FLUSH_INTERVAL" envDefault:"100ms" desc:"streamed tokens are written to the event log in batches at most this often (the first at once)"`
	HistoryLimit       int           `env:"CHAT_HISTORY_LIMIT" envDefault:"100" desc:"most recent messages of a session sent to the model"`
	BudgetOutput       int           `env:"BUDGET_RESERVE_OUTPUT_TOKENS" envDefault:"4096" desc:"output tokens a model call under a budget reserves before it runs when the request sets no max_tokens: under a budget, that is the longest answer of one model call (it is sent as num_predict); the unused rest is given back when the call ends"`
	TurnReaperEvery    time.Duration `env:"TURN_REAPER_INTERVAL" envDefault:"1m" desc:"how often the reaper (a Temporal schedule run by the worker) fails turns whose workflow is gone, so no session stays blocked"`
	TurnReaperGrace    time.Duration `env:"TURN_REAPER_GRACE" envDefault:"1m" desc:"how old a turn without a workflow must be before it counts as lost (a new turn's workflow may still be starting)"`
	DBOutageTimeout    time.Duration `env:"DB_OUTAGE_TIMEOUT" envDefault:"1h" desc:"how long a turn or an ingestion run keeps retrying to record its progress and outcome while Postgres is unreachable before its workflow gives up (the reaper then fails such a turn)"`
	HeartbeatThrottle  time.Duration `env:"WORKER_HEARTBEAT_THROTTLE" envDefault:"500ms" desc:"longest gap between activity heartbeats sent to Temporal (bounds how fast a cancel reaches a running call)"`

	// Analytics.
	AnalyticsMaxDays    int `env:"ANALYTICS_MAX_DAYS" envDefault:"365" desc:"longest window (?days=) of the /v1/analytics routes (400 above it)"`
	AnalyticsMaxBuckets int `env:"ANALYTICS_MAX_BUCKETS" envDefault:"1000" desc:"most buckets of an analytics timeline (days x 24 for interval=hour; 400 above it); at least ANALYTICS_MAX_DAYS, so daily timelines always fit"`

	// Tools (MCP).
	MCPServers     []string      `env:"MCP_SERVERS" envSeparator:"," desc:"built-in MCP servers as name=url pairs, e.g. datetime=http://127.0.0.1:8091/mcp"`
	MCPListTTL     time.Duration `env:"MCP_TOOLS_TTL" envDefault:"30s" desc:"how long a server's tool list is cached"`
	MCPTimeout     time.Duration `env:"MCP_TIMEOUT" envDefault:"30s" desc:"per-call timeout of built-in MCP servers"`
	ToolResultMax  int           `env:"TOOL_RESULT_MAX_BYTES" envDefault:"65536" desc:"tool results are cut to this size before the model sees them"`
	ApprovalTools  []string      `env:"TOOLS_REQUIRE_APPROVAL" envSeparator:"," desc:"tool names that always wait for the user's approval before running"`
	AutoApprove    []string      `env:"TOOLS_AUTO_APPROVE" envSeparator:"," desc:"outbound tools (they send data out or write: fetch_url, search, extract_article, ingest_url, every registered server's tool) that run without the user's approval while the conversation holds no untrusted content; by default each waits for approval (\"*\" = all)"`
	TaintApproval  bool          `env:"TOOLS_TAINT_APPROVAL" envDefault:"true" desc:"once the model has read untrusted content (web pages, documents, a registered server's output), every outbound tool call waits for the user's approval, even auto-approved ones"`
	MCPMaxTools    int           `env:"MCP_MAX_TOOLS_PER_SERVER" envDefault:"64" desc:"most tools a registered MCP server may offer (registration over it is refused; more later are not offered)"`
	MCPMaxDesc     int           `env:"MCP_MAX_TOOL_DESCRIPTION" envDefault:"4096" desc:"longest tool description (characters) a registered MCP server may send"`
	MCPMaxSchema   int           `env:"MCP_MAX_TOOL_SCHEMA_BYTES" envDefault:"16384" desc:"largest argument schema (bytes of JSON) of a registered MCP server's tool"`
	MCPAllowHosts  []string      `env:"MCP_ALLOWED_HOSTS" envSeparator:"," desc:"hosts, IPs or CIDRs where users may register MCP servers despite the SSRF guard (internal tool servers)"`
	WebSearchURL   string        `env:"WEB_SEARCH_URL" desc:"SearXNG-compatible search endpoint for the web tool's search; unset = search disabled"`
	MCPIdentityKey string        `env:"MCP_IDENTITY_SECRET" desc:"secret the caller identity sent to MCP servers is keyed with, instead of JWT_SECRET (so MCP servers need not share it)"`
	MCPIdentityOld string        `env:"MCP_IDENTITY_SECRET_PREVIOUS" desc:"a second MCP_IDENTITY_SECRET still accepted by the MCP servers, never signing (rotation); unset = none"`
	MCPOrigins     []string      `env:"MCP_ALLOWED_ORIGINS" envSeparator:"," desc:"browser origins (exact scheme://host[:port]) the built-in MCP servers and the API's /mcp endpoint answer; a request with any other Origin header gets 403 (DNS-rebinding guard), one without Origin passes; empty = none"`

	// The API's MCP endpoint (/mcp): the caller's documents as tools for outside agents.
	MCPMaxResults   int   `env:"MCP_ENDPOINT_MAX_RESULTS" envDefault:"20" desc:"most passages (knowledge_search) or documents (list_documents) one call of the API's /mcp endpoint returns, 1-50"`
	MCPMaxTextBytes int64 `env:"MCP_ENDPOINT_MAX_TEXT_BYTES" envDefault:"262144" desc:"largest text ingest_text of the API's /mcp endpoint accepts, in bytes (a tool error naming the argument above it); MAX_UPLOAD_BYTES when that is lower"`

	// Documents and ingestion.
	MaxUploadBytes   int64         `env:"MAX_UPLOAD_BYTES" envDefault:"52428800" desc:"largest document upload or inline text (413 above it, refused before it is read)"`
	BlobDir          string        `env:"BLOB_DIR" desc:"keep document bytes in this directory instead of Postgres large objects"`
	QdrantURL        string        `env:"QDRANT_URL" desc:"Qdrant gRPC endpoint (e.g. http://qdrant:6334); unset = the embedded sqlite-vec store under DATA_DIR"`
	QdrantAPIKey     string        `env:"QDRANT_API_KEY" desc:"Qdrant API key"`
	FetchAllow       []string      `env:"SSRF_ALLOW" envSeparator:"," desc:"hosts, IPs or CIDRs exempt from the SSRF guard (private deployments, tests)"`
	FetchMaxBytes    int64         `env:"FETCH_MAX_BYTES" envDefault:"20971520" desc:"largest response a URL fetch reads"`
	FetchTimeout     time.Duration `env:"FETCH_TIMEOUT" envDefault:"30s" desc:"time limit of one URL fetch"`
	WhisperURL       string        `env:"WHISPER_URL" desc:"Whisper-compatible transcription endpoint (OpenAI's /v1/audio/transcriptions) for audio documents, POST /v1/audio/transcriptions and voice messages; unset = audio documents are refused and the voice routes answer 501"`
	ChunkMaxTokens   int           `env:"CHUNK_MAX_TOKENS" envDefault:"256" desc:"chunk size in tokens"`
	ChunkOverlap     int           `env:"CHUNK_OVERLAP" envDefault:"32" desc:"tokens repeated between consecutive chunks of a section"`
	EmbedBatch       int           `env:"EMBED_BATCH" envDefault:"32" desc:"texts per embedding request"`
	EmbedConcurrency int           `env:"EMBED_CONCURRENCY" envDefault:"2" desc:"embedding requests in flight per worker process (the embedder's capacity)"`
	IngestSlice      int           `env:"INGEST_SLICE_CHUNKS" envDefault:"512" desc:"chunks per embed/index activity (grows for huge documents to keep history bounded)"`
	IngestAttempts   int           `env:"INGEST_MAX_ATTEMPTS" envDefault:"20" desc:"attempts per ingestion stage (transient failures retry with backoff)"`
	IngestHeartbeat  time.Duration `env:"INGEST_HEARTBEAT_TIMEOUT" envDefault:"30s" desc:"an embed/index activity whose worker went silent this long is retried elsewhere"`
	IngestTimeout    time.Duration `env:"INGEST_STAGE_TIMEOUT" envDefault:"10m" desc:"time limit of one fetch/extract/chunk activity and of one embed/index slice"`

	// Extraction limits (decompression and parser bombs): over any of them a document fails at
	// once with BAD_DOCUMENT, never retried.
	ExtractTimeout     time.Duration `env:"EXTRACT_TIMEOUT" envDefault:"2m" desc:"wall-clock limit of one extraction tool run (pdfinfo, pdftotext, pdftoppm, tesseract) or transcription request"`
	ExtractMaxMemory   int64         `env:"EXTRACT_MAX_MEMORY_BYTES" envDefault:"1073741824" desc:"memory limit (RLIMIT_DATA: heap and private writable memory) of each extraction process — pdfinfo, pdftotext, pdftoppm, tesseract, and the sandbox that parses text, Markdown, HTML, CSV, JSON and DOCX — set with prlimit (util-linux); 0 = unlimited"`
	ExtractMaxCPU      time.Duration `env:"EXTRACT_MAX_CPU" envDefault:"2m" desc:"CPU-time limit of each extraction process, set with prlimit; also bounds one orphaned by a dead worker; 0 = unlimited"`
	OCRMaxPixels       int64         `env:"OCR_MAX_PIXELS" envDefault:"40000000" desc:"largest image (each page of a TIFF) given to OCR, in pixels, read from its header; 40 MP holds an A4 page scanned at 600 dpi; scanned PDF pages are rendered at 300 dpi or less to stay under it"`
	OCRMaxPDFPages     int           `env:"OCR_MAX_PDF_PAGES" envDefault:"500" desc:"pages without a text layer OCRed in one PDF (rendered with pdftoppm, about a second each); a PDF with more keeps only its text pages, or fails with BAD_DOCUMENT when it has none; 0 = scanned pages are not OCRed"`
	ExtractMaxPart     int64         `env:"EXTRACT_MAX_PART_BYTES" envDefault:"67108864" desc:"largest uncompressed part read from a zip-based document (DOCX)"`
	ExtractMaxUnpacked int64         `env:"EXTRACT_MAX_UNPACKED_BYTES" envDefault:"134217728" desc:"uncompressed bytes read from all the parts of one zip-based document together"`
	ExtractSandboxMin  int64         `env:"EXTRACT_SANDBOX_MIN_BYTES" envDefault:"32768" desc:"text, Markdown, HTML, CSV and JSON files smaller than this are parsed in the worker itself, larger ones (and every DOCX) in the youworker-extract child under the EXTRACT_* limits; 0 parses every one in the child"`

	// Voice: transcription through WHISPER_URL for POST /v1/audio/transcriptions and audio on a turn.
	WhisperAPIKey  string        `env:"WHISPER_API_KEY" desc:"bearer token sent to WHISPER_URL (audio documents, transcriptions, voice messages); never logged or shown to clients; unset = none"`
	WhisperModel   string        `env:"WHISPER_MODEL" envDefault:"whisper-1" desc:"model name sent to WHISPER_URL (the model field clients send to /v1/audio/transcriptions is accepted and not forwarded)"`
	WhisperTimeout time.Duration `env:"WHISPER_TIMEOUT" envDefault:"2m" desc:"time limit of one transcription for /v1/audio/transcriptions and voice messages (audio documents: EXTRACT_TIMEOUT); over it the request answers 503"`
	AudioMaxBytes  int64         `env:"AUDIO_MAX_BYTES" envDefault:"26214400" desc:"largest audio file of /v1/audio/transcriptions and of a voice message, and the audio of one /v1/chat/completions request together (413 above it); MAX_UPLOAD_BYTES when that is lower"`
	AudioMaxCount  int           `env:"AUDIO_MAX_COUNT" envDefault:"4" desc:"most input_audio parts one /v1/chat/completions request may carry (0 refuses audio there); with WHISPER_URL set the route's body cap grows by AUDIO_MAX_BYTES as base64"`
	RateTranscribe int           `env:"RATE_LIMIT_TRANSCRIPTIONS" envDefault:"20" desc:"transcriptions per user per minute: POST /v1/audio/transcriptions and each audio of a voice message or completion"`

	// Security layers.
	CORSOrigins     []string      `env:"CORS_ALLOWED_ORIGINS" envSeparator:"," desc:"browser origins allowed to call the API with credentials (exact scheme://host[:port]); empty = none"`
	IPAllowlist     []string      `env:"IP_ALLOWLIST" envSeparator:"," desc:"CIDRs or IPs allowed to reach the API (client address as seen through TRUSTED_PROXIES); empty = everyone"`
	RateLimits      bool          `env:"RATE_LIMIT_ENABLED" envDefault:"true" desc:"enforce the rate limits below (shared across API processes through Postgres)"`
	RateAuthPerMin  int           `env:"RATE_LIMIT_AUTH" envDefault:"10" desc:"login, register and refresh attempts per client IP per minute"`
	RateTurnsPerMin int           `env:"RATE_LIMIT_TURNS" envDefault:"30" desc:"chat messages (turns) per user per minute"`
	OIDCIssuer      string        `env:"OIDC_ISSUER" desc:"OpenID Connect issuer URL for SSO (e.g. Authentik's https://auth.example/application/o/youworker/); unset = SSO off"`
	OIDCClientID    string        `env:"OIDC_CLIENT_ID" desc:"OIDC client id"`
	OIDCSecret      string        `env:"OIDC_CLIENT_SECRET" desc:"OIDC client secret (empty for a public client: PKCE only)"`
	OIDCGroupsClaim string        `env:"OIDC_GROUPS_CLAIM" desc:"ID token claim listing the user's groups, mapped onto YouWorker groups; unset = no group sync"`
	OIDCGroups      []string      `env:"OIDC_ALLOWED_GROUPS" envSeparator:"," desc:"provider groups to sync (empty = all)"`
	TrustedHeaders  bool          `env:"TRUSTED_HEADER_AUTH" envDefault:"false" desc:"accept the user from X-authentik-username/-email/-groups headers, only from TRUSTED_PROXIES"`
	ProxySensitive  bool          `env:"TRUSTED_HEADER_SENSITIVE" envDefault:"false" desc:"let trusted-header (proxy) callers mint API keys, export and delete their account: only when the proxy re-authenticates users itself, since its headers never say when the user last proved who they are"`
	ReauthWindow    time.Duration `env:"REAUTH_WINDOW" envDefault:"5m" desc:"how long after a login proved the user (password, single sign-on, POST /v1/auth/reauthenticate) it may mint API keys, export or delete the account and link single sign-on (403 REAUTH_REQUIRED after)"`
	BackoffAfter    int           `env:"LOGIN_BACKOFF_AFTER" envDefault:"5" desc:"failed logins of one username (known or not) before its next attempts wait (429 with Retry-After); 0 = off"`
	BackoffBase     time.Duration `env:"LOGIN_BACKOFF_BASE" envDefault:"1s" desc:"the first wait after LOGIN_BACKOFF_AFTER failures; it doubles with each further failure"`
	BackoffMax      time.Duration `env:"LOGIN_BACKOFF_MAX" envDefault:"15m" desc:"the longest wait between login attempts of one username"`
	BackoffForget   time.Duration `env:"LOGIN_BACKOFF_FORGET" envDefault:"24h" desc:"failed logins older than this no longer count; a successful login forgets them at once"`
	RateSearch      int           `env:"RATE_LIMIT_SEARCH" envDefault:"120" desc:"semantic searches (POST /v1/search) per user per minute"`
	RateIngPerMin   int           `env:"RATE_LIMIT_INGEST" envDefault:"60" desc:"document uploads and ingestions per user per minute"`
	AuthCacheTTL    time.Duration `env:"AUTH_CACHE_TTL" envDefault:"5s" desc:"how long an API process may reuse what it read about a login (user, memberships, still active) instead of reading it per request; changes reach every process at once through Postgres notifications, so this only bounds clock-based expiry (0 reads it on every request)"`
	RateSync        time.Duration `env:"RATE_LIMIT_SYNC" envDefault:"100ms" desc:"how often an API process adds its request counts to the shared counters (a request never waits for Postgres; with several processes a window may admit what the others took in one interval over the limit)"`

	// CookieSecure says whether auth cookies are marked Secure: COOKIE_SECURE when set, else
	// whether PUBLIC_URL is https (FromEnv and FromMap derive it).
	CookieSecure bool
}

// CompletionBodyBytes is the body cap of /v1/chat/completions: MAX_BODY_BYTES plus room for
// IMAGE_MAX_COUNT images of IMAGE_MAX_BYTES as base64.
func (c Config) CompletionBodyBytes() int64 {
	return c.MaxBodyBytes + int64(c.ImageMaxCount)*(int64(c.ImageMaxBytes)*4/3+64)
}

// VoiceEnabled reports whether a transcription endpoint is configured (WHISPER_URL).
func (c Config) VoiceEnabled() bool { return c.WhisperURL != "" }

// AudioLimit is the largest audio accepted: AUDIO_MAX_BYTES, or MAX_UPLOAD_BYTES when that is
// lower (a smaller upload cap needs no second setting).
func (c Config) AudioLimit() int64 { return min(c.AudioMaxBytes, c.MaxUploadBytes) }

// AudioUploadBytes is the body cap of a multipart audio upload: AudioLimit plus room for the
// form's framing and fields.
func (c Config) AudioUploadBytes() int64 { return c.AudioLimit() + 64<<10 }

// AudioInlineBytes is what input_audio parts add to the body cap of /v1/chat/completions: the
// audio of one request as base64 with its part's framing; 0 without WHISPER_URL.
func (c Config) AudioInlineBytes() int64 {
	if !c.VoiceEnabled() || c.AudioMaxCount == 0 {
		return 0
	}
	return c.AudioLimit()*4/3 + int64(c.AudioMaxCount)*128
}

// MCPTextLimit is the largest text the /mcp endpoint's ingest_text takes: MCP_ENDPOINT_MAX_TEXT_BYTES,
// or MAX_UPLOAD_BYTES when that is lower (a smaller upload cap needs no second setting).
func (c Config) MCPTextLimit() int64 { return min(c.MCPMaxTextBytes, c.MaxUploadBytes) }

// Aliases maps each alias of MODEL_ALIASES to its Ollama model.
func (c Config) Aliases() map[string]string {
	out := make(map[string]string, len(c.ModelAliases))
	for _, a := range c.ModelAliases {
		if alias, model, ok := strings.Cut(a, "="); ok {
			out[strings.TrimSpace(alias)] = strings.TrimSpace(model)
		}
	}
	return out
}

// ToolRules are the operator's approval rules for tool calls.
func (c Config) ToolRules() policy.ToolRules {
	return policy.ToolRules{Require: c.ApprovalTools, AutoApprove: c.AutoApprove}
}

// FromEnv reads the configuration from the process environment and validates it. The error
// names the offending variable.
func FromEnv() (Config, error) {
	return parse(env.Options{})
}

// FromEnvUnchecked reads the configuration like FromEnv but validates nothing: for commands such
// as "youworker migrate" that use a few variables (the database and Temporal) and run before the
// platform's secrets need to exist. Whatever it uses it must check itself.
func FromEnvUnchecked() (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{}); err != nil {
		return Config{}, explain(err)
	}
	return c.derive()
}

// FromMap is FromEnv over an explicit environment (tests, the dev launcher).
func FromMap(vars map[string]string) (Config, error) {
	return parse(env.Options{Environment: vars})
}

func parse(opts env.Options) (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return Config{}, explain(err)
	}
	c, err := c.derive()
	if err != nil {
		return Config{}, err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// derive computes the settings that follow from others: the cookies' Secure flag and the
// database URL with DATABASE_PASSWORD escaped into it.
func (c Config) derive() (Config, error) {
	c.CookieSecure = strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
	if c.CookieSecureSet != nil {
		c.CookieSecure = *c.CookieSecureSet
	}
	if c.DatabasePassword != "" {
		u, err := withPassword(c.DatabaseURL, c.DatabasePassword)
		if err != nil {
			return Config{}, fmt.Errorf("config: DATABASE_PASSWORD: %w", err)
		}
		c.DatabaseURL = u
	}
	return c, nil
}

// withPassword puts password, escaped, into the postgres:// URL raw, whose user it is.
func withPassword(raw, password string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "", errors.New("needs DATABASE_URL (e.g. postgres://youworker@postgres:5432/youworker)")
	case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql"):
		return "", errors.New("needs DATABASE_URL to be a postgres:// URL")
	case u.User == nil || u.User.Username() == "":
		return "", errors.New("needs DATABASE_URL to name the user (postgres://USER@host/db)")
	}
	if _, set := u.User.Password(); set {
		return "", errors.New("DATABASE_URL already holds a password: give it in one place only")
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String(), nil
}

// explain rewrites the library's parse errors, which name Go fields, to name the variable.
func explain(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, fmt.Sprintf("%s: cannot parse as %s: %v", varOf(pe.Name), pe.Type, pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
}

func varOf(field string) string {
	if f, ok := reflect.TypeFor[Config]().FieldByName(field); ok {
		return f.Tag.Get("env")
	}
	return field
}

func (c Config) validate() error {
	var errs []string
	bad := func(variable, format string, args ...any) {
		errs = append(errs, variable+": "+fmt.Sprintf(format, args...))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "is required (e.g. postgres://user:pass@host:5432/youworker)")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if len(c.JWTSecret) < 32 {
		bad("JWT_SECRET", "is required and must be at least 32 bytes (generate one with: openssl rand -base64 48)")
	}
	if c.JWTPrevious != "" && len(c.JWTPrevious) < 32 {
		bad("JWT_SECRET_PREVIOUS", "must be at least 32 bytes")
	}
	if c.MCPIdentityOld != "" && c.MCPIdentityKey == "" {
		bad("MCP_IDENTITY_SECRET_PREVIOUS", "is only used with MCP_IDENTITY_SECRET")
	}
	if c.MaxBodyBytes < 1024 {
		bad("MAX_BODY_BYTES", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.ImageMaxBytes < 1 {
		bad("IMAGE_MAX_BYTES", "must be at least 1, got %d", c.ImageMaxBytes)
	}
	if c.ImageMaxCount < 0 || c.ImageMaxCount > 64 {
		bad("IMAGE_MAX_COUNT", "must be between 0 and 64, got %d", c.ImageMaxCount)
	}
	if c.DBPoolSize < 1 {
		bad("DB_POOL_SIZE", "must be at least 1, got %d", c.DBPoolSize)
	}
	if c.DBMaxOverflow < 0 {
		bad("DB_MAX_OVERFLOW", "must not be negative, got %d", c.DBMaxOverflow)
	}
	if c.AuthCacheTTL < 0 {
		bad("AUTH_CACHE_TTL", "must not be negative")
	}
	if c.DBSlowQuery <= 0 {
		bad("DB_SLOW_QUERY_THRESHOLD", "must be positive")
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		bad("ACCESS_TOKEN_TTL", "must be between 1m and 24h, got %s", c.AccessTokenTTL)
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		bad("REFRESH_TOKEN_TTL", "must not be shorter than ACCESS_TOKEN_TTL")
	}
	for _, v := range []struct{ name, val string }{{"OLLAMA_HOST", c.OllamaHost}, {"PUBLIC_URL", c.PublicURL}} {
		if u, err := url.Parse(v.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(v.name, "must be an http(s) URL, got %q", v.val)
		}
	}
	if len(c.FernetKeys) == 0 {
		bad("FERNET_KEYS", "is required (generate one with: youworker keys generate)")
	}
	for _, k := range c.FernetKeys {
		if raw, err := base64.URLEncoding.DecodeString(strings.TrimSpace(k)); err != nil || len(raw) != 32 {
			bad("FERNET_KEYS", "every key must be 32 bytes of url-safe base64 (youworker keys generate)")
			break
		}
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"TURN_MAX_STEPS", c.TurnMaxSteps}, {"LLM_MAX_ATTEMPTS", c.LLMMaxAttempts}, {"TOOL_MAX_ATTEMPTS", c.ToolMaxAttempts},
		{"CHAT_HISTORY_LIMIT", c.HistoryLimit}, {"BUDGET_RESERVE_OUTPUT_TOKENS", c.BudgetOutput}, {"MAX_MESSAGE_CHARS", c.MaxMessageChars}, {"TOOL_RESULT_MAX_BYTES", c.ToolResultMax},
		{"MCP_MAX_TOOLS_PER_SERVER", c.MCPMaxTools}, {"MCP_MAX_TOOL_DESCRIPTION", c.MCPMaxDesc}, {"MCP_MAX_TOOL_SCHEMA_BYTES", c.MCPMaxSchema}} {
		if v.val < 1 {
			bad(v.name, "must be at least 1, got %d", v.val)
		}
	}
	for _, v := range []struct {
		name string
		val  time.Duration
	}{{"LLM_TIMEOUT", c.LLMTimeout}, {"LLM_HEARTBEAT_TIMEOUT", c.LLMHeartbeat}, {"TOOL_TIMEOUT", c.ToolTimeout}, {"TOOL_HEARTBEAT_TIMEOUT", c.ToolHeartbeat},
		{"TURN_REAPER_INTERVAL", c.TurnReaperEvery}, {"TURN_REAPER_GRACE", c.TurnReaperGrace}, {"DB_OUTAGE_TIMEOUT", c.DBOutageTimeout},
		{"APPROVAL_TIMEOUT", c.ApprovalTimeout}, {"TOKEN_FLUSH_INTERVAL", c.TokenFlushInterval}, {"MCP_TIMEOUT", c.MCPTimeout},
		{"WORKER_HEARTBEAT_THROTTLE", c.HeartbeatThrottle}, {"RATE_LIMIT_SYNC", c.RateSync}} {
		if v.val <= 0 {
			bad(v.name, "must be positive")
		}
	}
	for _, v := range []struct {
		name string
		val  int
	}{{"CHUNK_MAX_TOKENS", c.ChunkMaxTokens}, {"EMBED_BATCH", c.EmbedBatch}, {"EMBED_CONCURRENCY", c.EmbedConcurrency},
		{"INGEST_SLICE_CHUNKS", c.IngestSlice}, {"INGEST_MAX_ATTEMPTS", c.IngestAttempts}} {
		if v.val < 1 {
			bad(v.name, "must be at least 1, got %d", v.val)
		}
	}
	if c.ChunkOverlap < 0 || c.ChunkOverlap >= c.ChunkMaxTokens {
		bad("CHUNK_OVERLAP", "must be between 0 and CHUNK_MAX_TOKENS-1")
	}
	for _, o := range c.CORSOrigins {
		if !isOrigin(o) {
			bad("CORS_ALLOWED_ORIGINS", "%q is not an origin like https://app.example.com", o)
		}
	}
	for _, o := range c.MCPOrigins {
		if !isOrigin(o) {
			bad("MCP_ALLOWED_ORIGINS", "%q is not an origin like https://app.example.com", o)
		}
	}
	for name, list := range map[string][]string{"IP_ALLOWLIST": c.IPAllowlist, "TRUSTED_PROXIES": c.TrustedProxies} {
		for _, v := range list {
			if _, err := parsePrefix(v); err != nil {
				bad(name, "%q is not an IP or CIDR", v)
			}
		}
	}
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		bad("OIDC_CLIENT_ID", "is required when OIDC_ISSUER is set")
	}
	if c.ReauthWindow < 10*time.Second || c.ReauthWindow > 24*time.Hour {
		bad("REAUTH_WINDOW", "must be between 10s and 24h, got %s", c.ReauthWindow)
	}
	if c.BackoffAfter < 0 {
		bad("LOGIN_BACKOFF_AFTER", "must not be negative, got %d", c.BackoffAfter)
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		bad("LOGIN_BACKOFF_BASE", "must be positive and not above LOGIN_BACKOFF_MAX")
	}
	if c.BackoffForget < c.BackoffMax {
		bad("LOGIN_BACKOFF_FORGET", "must not be shorter than LOGIN_BACKOFF_MAX")
	}
	if c.TrustedHeaders && len(c.TrustedProxies) == 0 {
		bad("TRUSTED_HEADER_AUTH", "needs TRUSTED_PROXIES: the headers are only believed from the proxy")
	}
	if c.MaxUploadBytes < 1024 {
		bad("MAX_UPLOAD_BYTES", "must be at least 1024")
	}
	if c.WhisperURL != "" {
		if u, err := url.Parse(c.WhisperURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("WHISPER_URL", "must be an http:// or https:// URL of a transcription endpoint (e.g. http://whisper:8000/v1/audio/transcriptions)")
		}
	}
	if c.AudioMaxBytes < 1024 {
		bad("AUDIO_MAX_BYTES", "must be at least 1024, got %d", c.AudioMaxBytes)
	}
	if c.AudioMaxCount < 0 || c.AudioMaxCount > 16 {
		bad("AUDIO_MAX_COUNT", "must be between 0 and 16, got %d", c.AudioMaxCount)
	}
	if c.WhisperTimeout <= 0 {
		bad("WHISPER_TIMEOUT", "must be positive, got %s", c.WhisperTimeout)
	}
	if c.AnalyticsMaxDays < 1 {
		bad("ANALYTICS_MAX_DAYS", "must be at least 1, got %d", c.AnalyticsMaxDays)
	}
	if c.AnalyticsMaxBuckets < c.AnalyticsMaxDays {
		bad("ANALYTICS_MAX_BUCKETS", "must be at least ANALYTICS_MAX_DAYS (%d), got %d", c.AnalyticsMaxDays, c.AnalyticsMaxBuckets)
	}
	if c.MCPMaxResults < 1 || c.MCPMaxResults > 50 {
		bad("MCP_ENDPOINT_MAX_RESULTS", "must be between 1 and 50, got %d", c.MCPMaxResults)
	}
	if c.MCPMaxTextBytes < 1 {
		bad("MCP_ENDPOINT_MAX_TEXT_BYTES", "must be at least 1, got %d", c.MCPMaxTextBytes)
	}
	for _, a := range c.ModelAliases {
		if alias, model, ok := strings.Cut(a, "="); !ok || strings.TrimSpace(alias) == "" || strings.TrimSpace(model) == "" {
			bad("MODEL_ALIASES", "entries are alias=model, got %q", a)
		}
	}
	if c.WorkerMetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.WorkerMetricsAddr); err != nil {
			bad("WORKER_METRICS_ADDR", "must be host:port (e.g. 127.0.0.1:9465) or empty, got %q", c.WorkerMetricsAddr)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "must be host:port (e.g. 127.0.0.1:9464) or empty, got %q", c.MetricsAddr)
		} else if c.MetricsAddr == c.APIAddr {
			bad("METRICS_ADDR", "must differ from API_ADDR: the operator endpoints are unauthenticated")
		}
	}
	if c.ExtractTimeout <= 0 {
		bad("EXTRACT_TIMEOUT", "must be positive")
	}
	if c.ExtractMaxMemory != 0 && c.ExtractMaxMemory < 256<<20 {
		bad("EXTRACT_MAX_MEMORY_BYTES", "must be 0 (unlimited) or at least 256 MiB (268435456), got %d", c.ExtractMaxMemory)
	}
	if c.ExtractMaxCPU != 0 && c.ExtractMaxCPU < time.Second {
		bad("EXTRACT_MAX_CPU", "must be 0 (unlimited) or at least 1s, got %s", c.ExtractMaxCPU)
	}
	if c.OCRMaxPDFPages < 0 {
		bad("OCR_MAX_PDF_PAGES", "must be 0 (no OCR of PDFs) or more, got %d", c.OCRMaxPDFPages)
	}
	if c.ExtractSandboxMin < 0 || c.ExtractSandboxMin > 1<<20 {
		bad("EXTRACT_SANDBOX_MIN_BYTES", "must be between 0 and 1 MiB (1048576): larger files parse slowly enough to need the sandbox, got %d", c.ExtractSandboxMin)
	}
	for _, v := range []struct {
		name string
		val  int64
	}{{"OCR_MAX_PIXELS", c.OCRMaxPixels}, {"EXTRACT_MAX_PART_BYTES", c.ExtractMaxPart}, {"EXTRACT_MAX_UNPACKED_BYTES", c.ExtractMaxUnpacked}} {
		if v.val < 1 {
			bad(v.name, "must be at least 1, got %d", v.val)
		}
	}
	if c.QdrantURL != "" {
		if u, err := url.Parse(c.QdrantURL); err != nil || u.Host == "" {
			bad("QDRANT_URL", "must be a URL like http://qdrant:6334")
		}
	}
	if _, err := c.ToolServers(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.TaskQueue == "" {
		bad("TEMPORAL_TASK_QUEUE", "must not be empty")
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	return nil
}

func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == ""
}

// MCPOriginsFromEnv reads MCP_ALLOWED_ORIGINS alone, for the datetime MCP server, which needs no
// other configuration.
func MCPOriginsFromEnv() ([]string, error) {
	var c struct {
		Origins []string `env:"MCP_ALLOWED_ORIGINS" envSeparator:","`
	}
	if err := env.Parse(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for _, o := range c.Origins {
		if !isOrigin(o) {
			return nil, fmt.Errorf("config: MCP_ALLOWED_ORIGINS: %q is not an origin like https://app.example.com", o)
		}
	}
	return c.Origins, nil
}

// Logger builds the process logger described by LOG_LEVEL and LOG_FORMAT; records logged with a
// request context carry its request id.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logging.NewHandler(h))
}

// Variable documents one environment variable.
type Variable struct {
	Name, Default, Description string
}

// Variables lists every environment variable Config reads, in declaration order.
func Variables() []Variable {
	t := reflect.TypeFor[Config]()
	out := make([]Variable, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("env"); name != "" {
			out = append(out, Variable{Name: name, Default: f.Tag.Get("envDefault"), Description: f.Tag.Get("desc")})
		}
	}
	return out
}

// TracingVariables are the OpenTelemetry variables YouWorker documents for traces. Config does not
// read them: the OpenTelemetry SDK does, through package telemetry, which fails the start on a
// value it cannot honour. The SDK's other OTLP variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// _CERTIFICATE, _COMPRESSION, _INSECURE and their _TRACES_ forms, OTEL_BSP_*) apply as well.
func TracingVariables() []Variable {
	return []Variable{
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Description: "OTLP collector that receives traces, e.g. http://otel-collector:4318 (or :4317 with grpc); unset = no tracing (docs/operations.md, Traces)"},
		{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Description: "the full URL of traces instead (e.g. http://tempo:4318/v1/traces); either one turns tracing on"},
		{Name: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: "http/protobuf", Description: "http/protobuf or grpc"},
		{Name: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Description: "the protocol of traces instead, when it differs from OTEL_EXPORTER_OTLP_PROTOCOL's"},
		{Name: "OTEL_SERVICE_NAME", Description: "service name of every span of the process; unset = youworker-api, youworker-worker, youworker-mcp-NAME or youworker-dev by command"},
		{Name: "OTEL_RESOURCE_ATTRIBUTES", Description: "more resource attributes, e.g. deployment.environment.name=prod,service.namespace=acme"},
		{Name: "OTEL_TRACES_SAMPLER", Default: "parentbased_always_on", Description: "which traces are kept, e.g. parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG"},
		{Name: "OTEL_TRACES_SAMPLER_ARG", Description: "the sampler's argument, e.g. 0.1 (one trace in ten)"},
		{Name: "OTEL_PROPAGATORS", Default: "tracecontext,baggage", Description: "how trace context travels in and out of each process: tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace or none, comma-separated; an unknown name stops the start"},
		{Name: "OTEL_TRACES_EXPORTER", Default: "otlp", Description: "none turns tracing off whatever else is set; only otlp and none are supported"},
		{Name: "OTEL_SDK_DISABLED", Default: "false", Description: "true turns tracing off whatever else is set"},
	}
}

// ToolServer is a built-in MCP server from MCP_SERVERS.
type ToolServer struct {
	Name, URL string
}

// ToolServers parses MCP_SERVERS.
func (c Config) ToolServers() ([]ToolServer, error) {
	var out []ToolServer
	for _, item := range c.MCPServers {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, raw, ok := strings.Cut(item, "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("MCP_SERVERS: %q is not name=http(s)://host/path", item)
		}
		out = append(out, ToolServer{Name: name, URL: raw})
	}
	return out, nil
}

// IdentityKeys are the keys of the caller identities sent to MCP servers, derived from
// MCP_IDENTITY_SECRET, else JWT_SECRET: the first signs, every one verifies.
func (c Config) IdentityKeys() keyring.Ring {
	if c.MCPIdentityKey != "" {
		return keyring.New(keyring.MCPIdentity, c.MCPIdentityKey, c.MCPIdentityOld)
	}
	return keyring.New(keyring.MCPIdentity, c.JWTSecret, c.JWTPrevious)
}

// IdentitySecret is the key signing caller identities sent to MCP servers.
func (c Config) IdentitySecret() []byte { return c.IdentityKeys().Signing() }

// MarkdownTable renders Variables as the README's configuration table, then TracingVariables.
func MarkdownTable() string {
	var b strings.Builder
	writeTable(&b, Variables())
	b.WriteString("\nTraces (OpenTelemetry; read by its SDK, see docs/operations.md):\n\n")
	writeTable(&b, TracingVariables())
	return b.String()
}

func writeTable(b *strings.Builder, vars []Variable) {
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range vars {
		def := "—"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", v.Name, def, v.Description)
	}
}

// IPSet is a list of networks, each given as an IP or a CIDR.
type IPSet []netip.Prefix

// Contains reports whether ip (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of the networks.
func (s IPSet) Contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AllowedIPs parses IP_ALLOWLIST.
func (c Config) AllowedIPs() IPSet { return parseIPSet(c.IPAllowlist) }

// TrustedProxyIPs parses TRUSTED_PROXIES.
func (c Config) TrustedProxyIPs() IPSet { return parseIPSet(c.TrustedProxies) }

// parseIPSet skips what does not parse: Validate has reported it.
func parseIPSet(vs []string) IPSet {
	var out IPSet
	for _, v := range vs {
		if p, err := parsePrefix(v); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
