package ollama

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"
)

const (
	standinVersion   = "0.0.0-youworker-standin"
	defaultDimension = 768
	maxDimension     = 1 << 16
	maxBodyBytes     = 64 << 20
	contextLength    = 8192
	shutdownGrace    = 5 * time.Second
)

var (
	defaultChatModels  = []string{"llama3.1:8b", "qwen3:8b"}
	defaultEmbedModels = []string{"nomic-embed-text"}

	// modelModifiedAt is fixed so that /api/tags and /api/show are deterministic.
	modelModifiedAt = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// Options configures a [Server]. The zero value is usable.
type Options struct {
	ChatModels   []string      // default ["llama3.1:8b", "qwen3:8b"] (advertised by /api/tags)
	EmbedModels  []string      // default ["nomic-embed-text"]
	Dimension    int           // default 768
	TokenDelay   time.Duration // default 0
	EmbedDelay   time.Duration // slept once per /api/embed request (a batch), default 0
	StrictModels bool          // reject chat/embed requests for models that are not configured
	// VisionModels are chat models that also take images: listed after ChatModels, and
	// /api/show reports the vision capability for them. Default none.
	VisionModels []string
	Logger       *slog.Logger // default slog.Default()
}

// Stats are the server's counters since it started or since [Server.ResetStats].
type Stats struct {
	ChatCalls        int64 `json:"chat_calls"`        // requests to /api/chat
	EmbedCalls       int64 `json:"embed_calls"`       // requests to /api/embed and /api/embeddings
	EmbedTexts       int64 `json:"embed_texts"`       // texts received by the embed endpoints
	FailuresInjected int64 `json:"failures_injected"` // requests answered with an injected failure
	TokensStreamed   int64 `json:"tokens_streamed"`   // text tokens written in streamed chat chunks
	InFlight         int64 `json:"in_flight"`         // chat and embed requests being served now (not reset)
}

type counters struct {
	chatCalls, embedCalls, embedTexts, failures, tokens, inFlight atomic.Int64
}

type modelKind int

const (
	kindUnknown modelKind = iota
	kindChat
	kindEmbed
)

// Server is the stand-in. It implements [http.Handler] and is safe for
// concurrent use.
type Server struct {
	log         *slog.Logger
	dimension   int
	strict      bool
	models      []string // normalised names, chat models first
	kinds       map[string]modelKind
	tokenDelay  atomic.Int64
	embedDelay  atomic.Int64
	faults      faultTable
	stats       counters
	chatModels  []string
	embedModels []string
	vision      map[string]bool
	sent        sentLog
}

// New returns a stand-in configured by opts.
func New(opts Options) *Server {
	s := &Server{
		log:       opts.Logger,
		dimension: opts.Dimension,
		strict:    opts.StrictModels,
		kinds:     make(map[string]modelKind),
		vision:    make(map[string]bool),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.dimension <= 0 {
		s.dimension = defaultDimension
	}
	s.chatModels = opts.ChatModels
	if len(s.chatModels) == 0 {
		s.chatModels = defaultChatModels
	}
	s.embedModels = opts.EmbedModels
	if len(s.embedModels) == 0 {
		s.embedModels = defaultEmbedModels
	}
	for _, name := range opts.VisionModels {
		s.vision[normalizeModel(name)] = true
	}
	for _, group := range []struct {
		names []string
		kind  modelKind
	}{{s.chatModels, kindChat}, {opts.VisionModels, kindChat}, {s.embedModels, kindEmbed}} {
		for _, name := range group.names {
			n := normalizeModel(name)
			if _, dup := s.kinds[n]; dup {
				continue
			}
			s.kinds[n] = group.kind
			s.models = append(s.models, n)
		}
	}
	s.SetTokenDelay(opts.TokenDelay)
	s.SetEmbedDelay(opts.EmbedDelay)
	return s
}

// SetEmbedDelay sets the latency of one embedding request (one batch), for benchmarks that need
// an embedder with a fixed cost per batch.
func (s *Server) SetEmbedDelay(d time.Duration) {
	s.embedDelay.Store(int64(max(d, 0)))
}

// SetTokenDelay sets the delay slept before each generated token. It applies
// to tokens generated after the call, including those of running requests.
func (s *Server) SetTokenDelay(d time.Duration) {
	s.tokenDelay.Store(int64(max(d, 0)))
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		ChatCalls:        s.stats.chatCalls.Load(),
		EmbedCalls:       s.stats.embedCalls.Load(),
		EmbedTexts:       s.stats.embedTexts.Load(),
		FailuresInjected: s.stats.failures.Load(),
		TokensStreamed:   s.stats.tokens.Load(),
		InFlight:         s.stats.inFlight.Load(),
	}
}

// ResetStats zeroes the counters, except InFlight which is a gauge.
func (s *Server) ResetStats() {
	s.stats.chatCalls.Store(0)
	s.stats.embedCalls.Store(0)
	s.stats.embedTexts.Store(0)
	s.stats.failures.Store(0)
	s.stats.tokens.Store(0)
}

type route struct {
	methods []string
	handle  func(*Server, http.ResponseWriter, *http.Request)
}

var routes = map[string]route{
	"/":                 {[]string{http.MethodGet, http.MethodHead}, (*Server).handleRoot},
	"/api/version":      {[]string{http.MethodGet, http.MethodHead}, (*Server).handleVersion},
	"/api/tags":         {[]string{http.MethodGet, http.MethodHead}, (*Server).handleTags},
	"/api/show":         {[]string{http.MethodPost}, (*Server).handleShow},
	"/api/chat":         {[]string{http.MethodPost}, (*Server).handleChat},
	"/api/embed":        {[]string{http.MethodPost}, (*Server).handleEmbed},
	"/api/embeddings":   {[]string{http.MethodPost}, (*Server).handleEmbeddings},
	"/_standin/control": {[]string{http.MethodPost}, (*Server).handleControl},
	"/_standin/stats":   {[]string{http.MethodGet}, (*Server).handleStats},
}

// ServeHTTP implements [http.Handler].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Ollama-Standin", "true")
	rt, ok := routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "404 page not found")
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	s.log.DebugContext(r.Context(), "ollama stand-in request", "method", r.Method, "path", r.URL.Path)
	rt.handle(s, w, r)
}

func (s *Server) handleRoot(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Ollama is running (YouWorker stand-in: a test double with scripted replies, not a language model)")
}

func (s *Server) handleVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Version string `json:"version"`
	}{standinVersion})
}

func (s *Server) handleTags(w http.ResponseWriter, _ *http.Request) {
	resp := api.ListResponse{Models: make([]api.ListModelResponse, 0, len(s.models))}
	for _, name := range s.models {
		resp.Models = append(resp.Models, api.ListModelResponse{
			Name:       name,
			Model:      name,
			ModifiedAt: modelModifiedAt,
			Digest:     modelDigest(name),
			Details:    modelDetails(),
		})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	var req api.ShowRequest
	if !decodeBody(w, r, &req) {
		return
	}
	name := req.Model
	if name == "" {
		//lint:ignore SA1019 older clients still send the deprecated name field
		name = req.Name
	}
	n := normalizeModel(name)
	kind := s.kinds[n]
	if kind == kindUnknown {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model '%s' not found", name))
		return
	}
	info := map[string]any{
		"general.architecture":   "standin",
		"general.basename":       n,
		"standin.context_length": contextLength,
	}
	caps := []model.Capability{model.CapabilityCompletion, model.CapabilityTools}
	if s.vision[n] {
		caps = append(caps, model.CapabilityVision)
	}
	if kind == kindEmbed {
		info["standin.embedding_length"] = s.dimension
		caps = []model.Capability{model.CapabilityEmbedding}
	}
	writeJSON(w, http.StatusOK, api.ShowResponse{
		Modelfile:    "# YouWorker Ollama stand-in: a test double with scripted replies, not a language model\nFROM " + n + "\n",
		Template:     "{{ .Prompt }}",
		Details:      modelDetails(),
		ModelInfo:    info,
		Capabilities: caps,
		ModifiedAt:   modelModifiedAt,
	})
}

// checkModel applies StrictModels and answers the request if the model is not
// acceptable.
func (s *Server) checkModel(w http.ResponseWriter, name string, want modelKind) bool {
	if name == "" {
		writeError(w, http.StatusBadRequest, "model is required")
		return false
	}
	if !s.strict {
		return true
	}
	switch kind := s.kinds[normalizeModel(name)]; {
	case kind == want:
		return true
	case kind == kindUnknown:
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", name))
	case want == kindChat:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q does not support chat", name))
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q does not support embeddings", name))
	}
	return false
}

type controlRequest struct {
	ClearFaults  bool              `json:"clear_faults"`
	Faults       map[string]Faults `json:"faults"`
	TokenDelayMS *float64          `json:"token_delay_ms"`
	EmbedDelayMS *float64          `json:"embed_delay_ms"`
	ResetStats   bool              `json:"reset_stats"`
}

type controlResponse struct {
	TokenDelayMS float64 `json:"token_delay_ms"`
	Stats        Stats   `json:"stats"`
}

func (s *Server) handleControl(w http.ResponseWriter, r *http.Request) {
	var req controlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid control request: "+err.Error())
		return
	}
	for endpoint, f := range req.Faults {
		if !validEndpoint(endpoint) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid control request: unknown endpoint %q (want chat, embed or *)", endpoint))
			return
		}
		if err := f.validate(); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid control request: faults for %q: %v", endpoint, err))
			return
		}
	}
	if req.TokenDelayMS != nil && *req.TokenDelayMS < 0 {
		writeError(w, http.StatusBadRequest, "invalid control request: token_delay_ms must not be negative")
		return
	}

	if req.ClearFaults {
		s.ClearFaults()
	}
	for endpoint, f := range req.Faults {
		s.SetFaults(endpoint, f)
	}
	if req.TokenDelayMS != nil {
		s.SetTokenDelay(time.Duration(*req.TokenDelayMS * float64(time.Millisecond)))
	}
	if req.EmbedDelayMS != nil && *req.EmbedDelayMS >= 0 {
		s.SetEmbedDelay(time.Duration(*req.EmbedDelayMS * float64(time.Millisecond)))
	}
	if req.ResetStats {
		s.ResetStats()
	}
	delayMS := float64(s.tokenDelay.Load()) / float64(time.Millisecond)
	s.log.InfoContext(r.Context(), "ollama stand-in control applied",
		"clear_faults", req.ClearFaults, "faults", req.Faults, "token_delay_ms", delayMS, "reset_stats", req.ResetStats)
	writeJSON(w, http.StatusOK, controlResponse{TokenDelayMS: delayMS, Stats: s.Stats()})
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// waitToken sleeps the token delay. It reports false if ctx ended first.
func (s *Server) waitToken(ctx context.Context) bool {
	return sleepCtx(ctx, time.Duration(s.tokenDelay.Load()))
}

// sleepCtx sleeps d unless ctx ends first; it reports whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves in the
// background. It returns the base URL ("http://127.0.0.1:PORT") and a
// shutdown function that first cancels every request still running (hung or
// delayed ones included) and then shuts the HTTP server down.
func Start(opts Options, addr string) (srv *Server, baseURL string, shutdown func(context.Context) error, err error) {
	run, err := start(opts, addr)
	if err != nil {
		return nil, "", nil, err
	}
	return run.srv, run.baseURL, run.shutdown, nil
}

// ListenAndServe serves on addr until ctx is cancelled, then shuts down.
func ListenAndServe(ctx context.Context, opts Options, addr string) error {
	run, err := start(opts, addr)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-run.serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	shutdownErr := run.shutdown(shutdownCtx)
	switch {
	case serveErr != nil:
		return fmt.Errorf("ollama stand-in: serve: %w", serveErr)
	case shutdownErr != nil:
		return fmt.Errorf("ollama stand-in: shutdown: %w", shutdownErr)
	}
	return nil
}

type running struct {
	srv      *Server
	baseURL  string
	shutdown func(context.Context) error
	serveErr <-chan error
}

func start(opts Options, addr string) (*running, error) {
	s := New(opts)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ollama stand-in: listen on %q: %w", addr, err)
	}
	baseURL := "http://" + ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		baseURL = fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}

	baseCtx, cancelRequests := context.WithCancel(context.Background())
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ollama stand-in stopped serving", "error", err)
			serveErr <- err
		}
	}()

	s.log.Warn("OLLAMA STAND-IN: this is a TEST DOUBLE with scripted replies, NOT a language model",
		"url", baseURL, "version", standinVersion,
		"chat_models", s.chatModels, "embed_models", s.embedModels, "dimension", s.dimension)

	shutdown := func(ctx context.Context) error {
		cancelRequests()
		return hs.Shutdown(ctx)
	}
	return &running{srv: s, baseURL: baseURL, shutdown: shutdown, serveErr: serveErr}, nil
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// decodeBody decodes the JSON request body into v, answering 400 as Ollama
// does if it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(v)
	switch {
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "missing request body")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// normalizeModel adds the ":latest" tag to a name without a tag.
func normalizeModel(name string) string {
	if name == "" {
		return ""
	}
	base := name[strings.LastIndex(name, "/")+1:]
	if !strings.Contains(base, ":") {
		return name + ":latest"
	}
	return name
}

func modelDigest(name string) string {
	sum := sha256.Sum256([]byte("youworker-standin/" + name))
	return hex.EncodeToString(sum[:])
}

func modelDetails() api.ModelDetails {
	return api.ModelDetails{
		Format:            "standin",
		Family:            "standin",
		Families:          []string{"standin"},
		ParameterSize:     "0",
		QuantizationLevel: "none",
	}
}
