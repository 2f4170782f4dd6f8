package ollama_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/ollama"
)

// waitFor bounds how long tests wait for a counter to reach a value.
const waitFor = 10 * time.Second

type standin struct {
	srv     *ollama.Server
	client  *api.Client
	baseURL string
}

// startStandin starts a stand-in on a free port and shuts it down when the
// test ends.
func startStandin(t *testing.T, opts ollama.Options) standin {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, baseURL, shutdown, err := ollama.Start(opts, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(t, shutdown(ctx))
	})
	u, err := url.Parse(baseURL)
	require.NoError(t, err)
	return standin{srv: srv, client: api.NewClient(u, http.DefaultClient), baseURL: baseURL}
}

// do sends a raw request and returns the status, the headers and the body.
func (s standin) do(t *testing.T, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.baseURL+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// receive returns the next value of ch, failing the test if none arrives in time.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		require.FailNow(t, "timed out waiting for a result")
		var zero T
		return zero
	}
}

// requireStatusError asserts that err is the client's StatusError with the
// given status code and message.
func requireStatusError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var se api.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, status, se.StatusCode)
	require.Equal(t, msg, se.ErrorMessage)
}

func TestVersionRootAndTags(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	ctx := t.Context()

	version, err := s.client.Version(ctx)
	require.NoError(t, err)
	require.Equal(t, "0.0.0-youworker-standin", version)

	require.NoError(t, s.client.Heartbeat(ctx))
	status, header, body := s.do(t, http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(body, "Ollama is running"), body)
	require.Contains(t, body, "stand-in")
	require.Equal(t, "true", header.Get("X-Ollama-Standin"))

	list, err := s.client.List(ctx)
	require.NoError(t, err)
	var names []string
	for _, m := range list.Models {
		names = append(names, m.Name)
		require.Equal(t, m.Name, m.Model)
		require.Len(t, m.Digest, 64)
		require.False(t, m.ModifiedAt.IsZero())
		require.Equal(t, "standin", m.Details.Family)
	}
	require.Equal(t, []string{"llama3.1:8b", "qwen3:8b", "nomic-embed-text:latest"}, names)
}

func TestTagsListConfiguredModels(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{ChatModels: []string{"tiny"}, EmbedModels: []string{"bge-m3:567m"}})
	list, err := s.client.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list.Models, 2)
	require.Equal(t, "tiny:latest", list.Models[0].Name)
	require.Equal(t, "bge-m3:567m", list.Models[1].Name)
}

func TestShow(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{Dimension: 384, VisionModels: []string{"llava:7b"}})

	tests := []struct {
		name          string
		model         string
		wantCaps      []model.Capability
		wantEmbedding any
	}{
		{name: "chat model", model: "llama3.1:8b", wantCaps: []model.Capability{"completion", "tools"}},
		{name: "vision model", model: "llava:7b", wantCaps: []model.Capability{"completion", "tools", "vision"}},
		{name: "embed model without tag", model: "nomic-embed-text", wantCaps: []model.Capability{"embedding"}, wantEmbedding: float64(384)},
		{name: "embed model with latest tag", model: "nomic-embed-text:latest", wantCaps: []model.Capability{"embedding"}, wantEmbedding: float64(384)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := s.client.Show(t.Context(), &api.ShowRequest{Model: tt.model})
			require.NoError(t, err)
			require.Equal(t, tt.wantCaps, resp.Capabilities)
			require.Equal(t, tt.wantEmbedding, resp.ModelInfo["standin.embedding_length"])
			require.Contains(t, resp.Modelfile, "not a language model")
		})
	}

	t.Run("unknown model", func(t *testing.T) {
		t.Parallel()
		_, err := s.client.Show(t.Context(), &api.ShowRequest{Model: "mistral"})
		requireStatusError(t, err, http.StatusNotFound, "model 'mistral' not found")
	})
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantError  string
	}{
		{name: "malformed chat JSON", method: http.MethodPost, path: "/api/chat", body: `{"model":`, wantStatus: http.StatusBadRequest, wantError: "unexpected EOF"},
		{name: "empty chat body", method: http.MethodPost, path: "/api/chat", wantStatus: http.StatusBadRequest, wantError: "missing request body"},
		{name: "chat without model", method: http.MethodPost, path: "/api/chat", body: `{"messages":[]}`, wantStatus: http.StatusBadRequest, wantError: "model is required"},
		{name: "malformed embed JSON", method: http.MethodPost, path: "/api/embed", body: `{]`, wantStatus: http.StatusBadRequest, wantError: "invalid character ']' looking for beginning of object key string"},
		{name: "embed input of numbers", method: http.MethodPost, path: "/api/embed", body: `{"model":"m","input":[1,2]}`, wantStatus: http.StatusBadRequest, wantError: "invalid input type"},
		{name: "chat with GET", method: http.MethodGet, path: "/api/chat", wantStatus: http.StatusMethodNotAllowed, wantError: "method not allowed"},
		{name: "tags with POST", method: http.MethodPost, path: "/api/tags", wantStatus: http.StatusMethodNotAllowed, wantError: "method not allowed"},
		{name: "unknown path", method: http.MethodGet, path: "/api/nope", wantStatus: http.StatusNotFound, wantError: "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, header, body := s.do(t, tt.method, tt.path, tt.body)
			require.Equal(t, tt.wantStatus, status)
			require.Contains(t, header.Get("Content-Type"), "application/json")
			var got struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &got), body)
			require.Equal(t, tt.wantError, got.Error)
			if status == http.StatusMethodNotAllowed {
				require.NotEmpty(t, header.Get("Allow"))
			}
		})
	}
}

func TestStrictModels(t *testing.T) {
	t.Parallel()
	strict := startStandin(t, ollama.Options{StrictModels: true})
	lenient := startStandin(t, ollama.Options{})
	noStream := false

	tests := []struct {
		name       string
		s          standin
		call       func(context.Context, *api.Client) error
		wantStatus int
		wantError  string
	}{
		{
			name: "strict rejects unknown chat model, streaming",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				return c.Chat(ctx, &api.ChatRequest{Model: "mistral"}, func(api.ChatResponse) error { return nil })
			},
			wantStatus: http.StatusNotFound,
			wantError:  `model "mistral" not found, try pulling it first`,
		},
		{
			name: "strict rejects unknown chat model, not streaming",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				return c.Chat(ctx, &api.ChatRequest{Model: "mistral", Stream: &noStream}, func(api.ChatResponse) error { return nil })
			},
			wantStatus: http.StatusNotFound,
			wantError:  `model "mistral" not found, try pulling it first`,
		},
		{
			name: "strict rejects unknown embed model",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				_, err := c.Embed(ctx, &api.EmbedRequest{Model: "bge-m3", Input: "x"})
				return err
			},
			wantStatus: http.StatusNotFound,
			wantError:  `model "bge-m3" not found, try pulling it first`,
		},
		{
			name: "strict rejects chat with an embed model",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				return c.Chat(ctx, &api.ChatRequest{Model: "nomic-embed-text"}, func(api.ChatResponse) error { return nil })
			},
			wantStatus: http.StatusBadRequest,
			wantError:  `"nomic-embed-text" does not support chat`,
		},
		{
			name: "strict accepts configured chat model",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				return c.Chat(ctx, &api.ChatRequest{Model: "qwen3:8b"}, func(api.ChatResponse) error { return nil })
			},
		},
		{
			name: "strict accepts configured embed model with explicit latest tag",
			s:    strict,
			call: func(ctx context.Context, c *api.Client) error {
				_, err := c.Embed(ctx, &api.EmbedRequest{Model: "nomic-embed-text:latest", Input: "x"})
				return err
			},
		},
		{
			name: "lenient accepts any chat model",
			s:    lenient,
			call: func(ctx context.Context, c *api.Client) error {
				return c.Chat(ctx, &api.ChatRequest{Model: "mistral"}, func(api.ChatResponse) error { return nil })
			},
		},
		{
			name: "lenient accepts any embed model",
			s:    lenient,
			call: func(ctx context.Context, c *api.Client) error {
				_, err := c.Embed(ctx, &api.EmbedRequest{Model: "bge-m3", Input: "x"})
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(t.Context(), tt.s.client)
			if tt.wantStatus == 0 {
				require.NoError(t, err)
				return
			}
			requireStatusError(t, err, tt.wantStatus, tt.wantError)
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestStartWarnsItIsATestDouble(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := startStandin(t, ollama.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "TEST DOUBLE")
	require.Contains(t, logs.String(), "NOT a language model")
	require.Contains(t, logs.String(), s.baseURL)
}

func TestListenAndServeStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- ollama.ListenAndServe(ctx, ollama.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, "127.0.0.1:0")
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "TEST DOUBLE") }, waitFor, time.Millisecond)
	cancel()
	require.NoError(t, receive(t, done), "ListenAndServe returns after its context is cancelled")
}

func TestListenAndServeReportsListenError(t *testing.T) {
	t.Parallel()
	err := ollama.ListenAndServe(t.Context(), ollama.Options{Logger: slog.New(slog.DiscardHandler)}, "127.0.0.1:99999")
	require.Error(t, err)
}

func TestShutdownCancelsHungRequests(t *testing.T) {
	t.Parallel()
	srv, baseURL, shutdown, err := ollama.Start(ollama.Options{Logger: slog.New(slog.DiscardHandler)}, "127.0.0.1:0")
	require.NoError(t, err)
	u, err := url.Parse(baseURL)
	require.NoError(t, err)
	client := api.NewClient(u, http.DefaultClient)

	srv.SetFaults("*", ollama.Faults{Hang: true})
	errs := make(chan error, 2)
	go func() {
		errs <- client.Chat(t.Context(), &api.ChatRequest{Model: "m"}, func(api.ChatResponse) error { return nil })
	}()
	go func() {
		_, err := client.Embed(t.Context(), &api.EmbedRequest{Model: "m", Input: "x"})
		errs <- err
	}()
	require.Eventually(t, func() bool { return srv.Hanging() == 2 }, waitFor, time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	require.NoError(t, shutdown(ctx), "shutdown must not wait for hung requests")
	for range 2 {
		err := receive(t, errs)
		require.Error(t, err)
		var se api.StatusError
		if errors.As(err, &se) {
			require.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
		}
	}
}

func TestControlEndpoint(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	ctx := t.Context()
	chat := func(ctx context.Context) (string, error) {
		var content strings.Builder
		err := s.client.Chat(ctx, &api.ChatRequest{
			Model:    "m",
			Messages: []api.Message{{Role: "user", Content: `reply "ok"`}},
		}, func(r api.ChatResponse) error {
			content.WriteString(r.Message.Content)
			return nil
		})
		return content.String(), err
	}

	status, _, body := s.do(t, http.MethodPost, "/_standin/control",
		`{"faults":{"chat":{"fail_first":1,"status":503}},"token_delay_ms":0}`)
	require.Equal(t, http.StatusOK, status, body)
	_, err := chat(ctx)
	requireStatusError(t, err, http.StatusServiceUnavailable, "stand-in injected failure")
	got, err := chat(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", got)

	status, _, body = s.do(t, http.MethodGet, "/_standin/stats", "")
	require.Equal(t, http.StatusOK, status)
	var stats ollama.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	require.Equal(t, ollama.Stats{ChatCalls: 2, FailuresInjected: 1, TokensStreamed: 1}, stats)
	require.Equal(t, stats, s.srv.Stats())

	// A long token delay set remotely holds the reply back: the request is
	// still in flight with nothing streamed until the client gives up.
	status, _, body = s.do(t, http.MethodPost, "/_standin/control", `{"token_delay_ms":60000,"reset_stats":true}`)
	require.Equal(t, http.StatusOK, status, body)
	var ctl struct {
		TokenDelayMS float64      `json:"token_delay_ms"`
		Stats        ollama.Stats `json:"stats"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ctl))
	require.Equal(t, 60000.0, ctl.TokenDelayMS)
	require.Equal(t, ollama.Stats{}, ctl.Stats)

	slowCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var slowContent string
	go func() {
		var err error
		slowContent, err = chat(slowCtx)
		done <- err
	}()
	require.Eventually(t, func() bool { return s.srv.Stats().InFlight == 1 }, waitFor, time.Millisecond)
	cancel()
	require.ErrorIs(t, receive(t, done), context.Canceled)
	require.Empty(t, slowContent)
	require.Eventually(t, func() bool { return s.srv.Stats().InFlight == 0 }, waitFor, time.Millisecond)
	require.Zero(t, s.srv.Stats().TokensStreamed)

	status, _, body = s.do(t, http.MethodPost, "/_standin/control",
		`{"token_delay_ms":0,"faults":{"*":{"hang":true}}}`)
	require.Equal(t, http.StatusOK, status, body)
	status, _, body = s.do(t, http.MethodPost, "/_standin/control", `{"clear_faults":true}`)
	require.Equal(t, http.StatusOK, status, body)
	got, err = chat(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", got)
}

func TestControlRejectsBadRequests(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})

	tests := []struct {
		name      string
		body      string
		wantError string
	}{
		{name: "unknown endpoint", body: `{"faults":{"generate":{"fail_first":1}}}`, wantError: `unknown endpoint "generate"`},
		{name: "unknown field", body: `{"token_delay":5}`, wantError: `unknown field "token_delay"`},
		{name: "fail rate above one", body: `{"faults":{"chat":{"fail_rate":1.5}}}`, wantError: "fail_rate must be between 0 and 1"},
		{name: "non-error status", body: `{"faults":{"embed":{"fail_first":1,"status":200}}}`, wantError: "status 200 is not an HTTP error status"},
		{name: "negative delay", body: `{"token_delay_ms":-1}`, wantError: "token_delay_ms must not be negative"},
	}
	t.Run("rejected", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				status, _, body := s.do(t, http.MethodPost, "/_standin/control", tt.body)
				require.Equal(t, http.StatusBadRequest, status)
				var got struct{ Error string }
				require.NoError(t, json.Unmarshal([]byte(body), &got), body)
				require.Contains(t, got.Error, tt.wantError)
			})
		}
	})
	// Nothing was applied by the rejected requests.
	_, err := s.client.Embed(t.Context(), &api.EmbedRequest{Model: "m", Input: "x"})
	require.NoError(t, err)
}
