package ollama_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/ollama"
)

type callFunc func(context.Context, *api.Client) error

func streamChat(ctx context.Context, c *api.Client) error {
	return c.Chat(ctx, &api.ChatRequest{Model: "m", Messages: []api.Message{userMsg("hi")}},
		func(api.ChatResponse) error { return nil })
}

func answerChat(ctx context.Context, c *api.Client) error {
	stream := false
	return c.Chat(ctx, &api.ChatRequest{Model: "m", Messages: []api.Message{userMsg("hi")}, Stream: &stream},
		func(api.ChatResponse) error { return nil })
}

func embed(ctx context.Context, c *api.Client) error {
	_, err := c.Embed(ctx, &api.EmbedRequest{Model: "m", Input: []string{"x", "y"}})
	return err
}

func legacyEmbed(ctx context.Context, c *api.Client) error {
	_, err := c.Embeddings(ctx, &api.EmbeddingRequest{Model: "m", Prompt: "x"})
	return err
}

func TestFailFirst(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		endpoint   string
		faults     ollama.Faults
		call       callFunc
		other      callFunc // a call to another endpoint, never failed
		wantStatus int
	}{
		{name: "streaming chat", endpoint: "chat", faults: ollama.Faults{FailFirst: 2}, call: streamChat, other: embed, wantStatus: http.StatusInternalServerError},
		{name: "non-streaming chat", endpoint: "chat", faults: ollama.Faults{FailFirst: 2}, call: answerChat, other: embed, wantStatus: http.StatusInternalServerError},
		{name: "embed", endpoint: "embed", faults: ollama.Faults{FailFirst: 2}, call: embed, other: streamChat, wantStatus: http.StatusInternalServerError},
		{name: "legacy embeddings", endpoint: "embed", faults: ollama.Faults{FailFirst: 2}, call: legacyEmbed, other: answerChat, wantStatus: http.StatusInternalServerError},
		{name: "wildcard on chat", endpoint: "*", faults: ollama.Faults{FailFirst: 2}, call: streamChat, wantStatus: http.StatusInternalServerError},
		{name: "custom status", endpoint: "embed", faults: ollama.Faults{FailFirst: 2, Status: http.StatusServiceUnavailable}, call: embed, wantStatus: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStandin(t, ollama.Options{})
			ctx := t.Context()
			s.srv.SetFaults(tt.endpoint, tt.faults)
			for i := range 4 {
				if tt.other != nil {
					require.NoError(t, tt.other(ctx, s.client), "other endpoint, call %d", i+1)
				}
				err := tt.call(ctx, s.client)
				if i < 2 {
					requireStatusError(t, err, tt.wantStatus, "stand-in injected failure")
				} else {
					require.NoError(t, err, "call %d", i+1)
				}
			}
			require.Equal(t, int64(2), s.srv.Stats().FailuresInjected)
		})
	}
}

func TestWildcardSharesOneCounter(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	ctx := t.Context()
	s.srv.SetFaults("*", ollama.Faults{FailFirst: 2})
	require.Error(t, streamChat(ctx, s.client))
	require.Error(t, embed(ctx, s.client))
	require.NoError(t, streamChat(ctx, s.client))
	require.NoError(t, embed(ctx, s.client))
}

func TestEndpointFaultsTakePrecedence(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	ctx := t.Context()
	s.srv.SetFaults("*", ollama.Faults{FailFirst: 100})
	s.srv.SetFaults("embed", ollama.Faults{FailFirst: 1})
	require.Error(t, embed(ctx, s.client))
	require.NoError(t, embed(ctx, s.client))
	require.Error(t, streamChat(ctx, s.client))

	s.srv.SetFaults("*", ollama.Faults{})
	require.NoError(t, streamChat(ctx, s.client))
}

func TestSetFaultsRestartsTheCount(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	ctx := t.Context()
	s.srv.SetFaults("chat", ollama.Faults{FailFirst: 1})
	require.Error(t, streamChat(ctx, s.client))
	require.NoError(t, streamChat(ctx, s.client))
	s.srv.SetFaults("chat", ollama.Faults{FailFirst: 1})
	require.Error(t, streamChat(ctx, s.client))
	s.srv.SetFaults("chat", ollama.Faults{FailFirst: 1})
	s.srv.ClearFaults()
	require.NoError(t, streamChat(ctx, s.client))
}

func TestFailRate(t *testing.T) {
	t.Parallel()
	const calls = 200

	// failurePattern makes 200 embed calls with FailRate 0.3 and returns
	// which of them failed.
	failurePattern := func(t *testing.T, seed int64) []bool {
		s := startStandin(t, ollama.Options{})
		s.srv.SetFaults("embed", ollama.Faults{FailRate: 0.3, Seed: seed})
		failed := make([]bool, calls)
		n := 0
		for i := range calls {
			err := embed(t.Context(), s.client)
			if err != nil {
				requireStatusError(t, err, http.StatusInternalServerError, "stand-in injected failure")
				failed[i] = true
				n++
			}
		}
		require.GreaterOrEqual(t, n, 40)
		require.LessOrEqual(t, n, 80)
		require.Equal(t, int64(n), s.srv.Stats().FailuresInjected)
		require.Equal(t, int64(calls), s.srv.Stats().EmbedCalls)
		return failed
	}

	tests := []struct {
		name string
		seed int64
	}{
		{name: "seed 0", seed: 0},
		{name: "seed 42", seed: 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := failurePattern(t, tt.seed)
			require.Equal(t, first, failurePattern(t, tt.seed), "the same seed gives the same sequence")
		})
	}
	t.Run("different seeds give different sequences", func(t *testing.T) {
		t.Parallel()
		require.NotEqual(t, failurePattern(t, 1), failurePattern(t, 2))
	})
}

func TestHang(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		endpoint string
		call     callFunc
	}{
		{name: "streaming chat", endpoint: "chat", call: streamChat},
		{name: "non-streaming chat", endpoint: "chat", call: answerChat},
		{name: "embed", endpoint: "embed", call: embed},
	}
	for _, tt := range tests {
		t.Run(tt.name+" returns when the client cancels", func(t *testing.T) {
			t.Parallel()
			s := startStandin(t, ollama.Options{})
			s.srv.SetFaults(tt.endpoint, ollama.Faults{Hang: true})
			ctx, cancel := context.WithCancel(t.Context())
			errs := make(chan error, 1)
			go func() { errs <- tt.call(ctx, s.client) }()
			require.Eventually(t, func() bool { return s.srv.Hanging() == 1 }, waitFor, time.Millisecond)
			cancel()
			require.ErrorIs(t, receive(t, errs), context.Canceled)
			require.Eventually(t, func() bool { return s.srv.Hanging() == 0 }, waitFor, time.Millisecond)
			require.Zero(t, s.srv.Stats().FailuresInjected)
		})
		t.Run(tt.name+" is released by ClearFaults", func(t *testing.T) {
			t.Parallel()
			s := startStandin(t, ollama.Options{})
			s.srv.SetFaults(tt.endpoint, ollama.Faults{Hang: true})
			errs := make(chan error, 1)
			go func() { errs <- tt.call(t.Context(), s.client) }()
			require.Eventually(t, func() bool { return s.srv.Hanging() == 1 }, waitFor, time.Millisecond)
			select {
			case err := <-errs:
				t.Fatalf("hung request answered before ClearFaults: %v", err)
			default:
			}
			s.srv.ClearFaults()
			require.NoError(t, receive(t, errs))
		})
	}
}

func TestSetFaultsRejectsUnknownEndpoint(t *testing.T) {
	t.Parallel()
	s := ollama.New(ollama.Options{})
	require.Panics(t, func() { s.SetFaults("generate", ollama.Faults{FailFirst: 1}) })
}
