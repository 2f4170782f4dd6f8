package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
	standin "github.com/youworker/youworker/standin/ollama"
)

// A process whose setup fails part-way closes what it opened and reports why (it once
// dereferenced a nil app instead, hiding the error).
func TestNewAppFailsCleanly(t *testing.T) {
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	cfg, err := config.FromMap(map[string]string{
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "FERNET_KEYS": key,
		"JWT_SECRET": "wiring-secret-wiring-secret-wiring-secret", "DATA_DIR": notADir,
	})
	require.NoError(t, err)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), false)
	require.ErrorContains(t, err, "DATA_DIR")
	require.Nil(t, a)
}

// The llm check of /health/detailed fails, naming the variable and the model, when Ollama answers
// but lacks the chat or the embedding model (a fresh Ollama has none), and passes when it has both
// (whether or not the configuration spells the ":latest" tag).
func TestLLMCheckNeedsTheModelsPulled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		chat, embed       []string
		chatVar, embedVar string
		missing           []string
	}{
		{name: "both pulled", chat: []string{"llama3.1:8b"}, embed: []string{"nomic-embed-text"}},
		{name: "tags spelled out", chat: []string{"llama3.1:8b"}, embed: []string{"nomic-embed-text"}, embedVar: "nomic-embed-text:latest"},
		{name: "chat model missing", chat: []string{"qwen3:8b"}, embed: []string{"nomic-embed-text"},
			missing: []string{`OLLAMA_MODEL "llama3.1:8b" is not pulled`, "ollama pull llama3.1:8b"}},
		{name: "embedding model missing", chat: []string{"llama3.1:8b"}, embed: []string{"mxbai-embed-large"},
			missing: []string{`OLLAMA_EMBED_MODEL "nomic-embed-text" is not pulled`}},
		{name: "another tag of the chat model", chat: []string{"llama3.1:70b"}, embed: []string{"nomic-embed-text"},
			missing: []string{`OLLAMA_MODEL "llama3.1:8b"`}},
		{name: "configured models missing", chat: []string{"llama3.1:8b"}, embed: []string{"nomic-embed-text"},
			chatVar: "mistral", embedVar: "bge-m3",
			missing: []string{`OLLAMA_MODEL "mistral"`, `OLLAMA_EMBED_MODEL "bge-m3"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(standin.New(standin.Options{ChatModels: tc.chat, EmbedModels: tc.embed,
				Logger: slog.New(slog.DiscardHandler)}))
			defer srv.Close()
			vars := map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/none", "FERNET_KEYS": mustKey(t),
				"JWT_SECRET": "wiring-secret-wiring-secret-wiring-secret", "OLLAMA_HOST": srv.URL}
			if tc.chatVar != "" {
				vars["OLLAMA_MODEL"] = tc.chatVar
			}
			if tc.embedVar != "" {
				vars["OLLAMA_EMBED_MODEL"] = tc.embedVar
			}
			cfg, err := config.FromMap(vars)
			require.NoError(t, err)
			llm, err := ollamaClient(cfg)
			require.NoError(t, err)
			err = modelsPulled(context.Background(), llm, cfg)
			if len(tc.missing) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, m := range tc.missing {
				require.Contains(t, err.Error(), m)
			}
		})
	}

	t.Run("ollama down", func(t *testing.T) {
		t.Parallel()
		cfg, err := config.FromMap(map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/none", "FERNET_KEYS": mustKey(t),
			"JWT_SECRET": "wiring-secret-wiring-secret-wiring-secret", "OLLAMA_HOST": "http://127.0.0.1:1"})
		require.NoError(t, err)
		llm, err := ollamaClient(cfg)
		require.NoError(t, err)
		require.Error(t, modelsPulled(context.Background(), llm, cfg))
	})
}

func mustKey(t *testing.T) string {
	t.Helper()
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	return key
}
