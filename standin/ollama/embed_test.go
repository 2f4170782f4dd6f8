package ollama_test

import (
	"math"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/ollama"
)

func norm(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum)
}

func cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot / (norm(a) * norm(b))
}

func TestEmbedFunction(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		text    string
		dim     int
		wantDim int
	}{
		{name: "sentence", text: "The quick brown fox jumps over the lazy dog", dim: 768, wantDim: 768},
		{name: "small dimension", text: "The quick brown fox", dim: 8, wantDim: 8},
		{name: "default dimension", text: "fox", dim: 0, wantDim: 768},
		{name: "unicode words", text: "Straße café 東京 naïve", dim: 64, wantDim: 64},
		{name: "empty text", text: "", dim: 16, wantDim: 16},
		{name: "punctuation only", text: "?!... --- ***", dim: 16, wantDim: 16},
		{name: "one dimension", text: "alpha beta", dim: 1, wantDim: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := ollama.Embed(tt.text, tt.dim)
			require.Len(t, v, tt.wantDim)
			for _, x := range v {
				require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0))
			}
			require.InDelta(t, 1.0, norm(v), 1e-5)
			require.Equal(t, v, ollama.Embed(tt.text, tt.dim), "deterministic")
		})
	}

	t.Run("texts without words share the fixed vector", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, ollama.Embed("", 32), ollama.Embed("!?", 32))
	})
	t.Run("case and punctuation do not matter", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, ollama.Embed("hello world", 128), ollama.Embed("Hello, WORLD!", 128))
	})
	t.Run("word order does not matter", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, ollama.Embed("alpha beta", 128), ollama.Embed("beta alpha", 128))
	})
	t.Run("different texts differ", func(t *testing.T) {
		t.Parallel()
		require.NotEqual(t, ollama.Embed("alpha", 128), ollama.Embed("beta", 128))
	})
}

func TestEmbedSimilarity(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, query, related, unrelated string
	}{
		{
			name:      "shared words",
			query:     "the cat sat on the mat",
			related:   "a cat sat on a rug",
			unrelated: "quarterly revenue grew strongly in Europe",
		},
		{
			name:      "document retrieval",
			query:     "How do I reset my password?",
			related:   "To reset your password open Settings and choose Reset password.",
			unrelated: "Our office is closed on public holidays.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := ollama.Embed(tt.query, 768)
			related := cosine(q, ollama.Embed(tt.related, 768))
			unrelated := cosine(q, ollama.Embed(tt.unrelated, 768))
			require.Greater(t, related, unrelated)
			require.Greater(t, related, 0.3)
		})
	}
}

func TestEmbedEndpoint(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	small := startStandin(t, ollama.Options{Dimension: 32})

	tests := []struct {
		name       string
		s          standin
		req        api.EmbedRequest
		wantTexts  []string
		wantDim    int
		wantPrompt int
	}{
		{
			name:       "array input",
			s:          s,
			req:        api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"first text here", "second one"}},
			wantTexts:  []string{"first text here", "second one"},
			wantDim:    768,
			wantPrompt: 5,
		},
		{
			name:       "string input",
			s:          s,
			req:        api.EmbedRequest{Model: "nomic-embed-text", Input: "just one"},
			wantTexts:  []string{"just one"},
			wantDim:    768,
			wantPrompt: 2,
		},
		{
			name:      "empty string is an input",
			s:         s,
			req:       api.EmbedRequest{Model: "nomic-embed-text", Input: ""},
			wantTexts: []string{""},
			wantDim:   768,
		},
		{
			name:    "no input",
			s:       s,
			req:     api.EmbedRequest{Model: "nomic-embed-text"},
			wantDim: 768,
		},
		{
			name:       "request dimensions",
			s:          s,
			req:        api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a b c"}, Dimensions: 64},
			wantTexts:  []string{"a b c"},
			wantDim:    64,
			wantPrompt: 3,
		},
		{
			name:       "configured dimension",
			s:          small,
			req:        api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a b c"}},
			wantTexts:  []string{"a b c"},
			wantDim:    32,
			wantPrompt: 3,
		},
		{
			name:       "request dimensions above the configured one",
			s:          small,
			req:        api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a b c"}, Dimensions: 100},
			wantTexts:  []string{"a b c"},
			wantDim:    100,
			wantPrompt: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := tt.s.client.Embed(t.Context(), &tt.req)
			require.NoError(t, err)
			require.Equal(t, tt.req.Model, resp.Model)
			require.Len(t, resp.Embeddings, len(tt.wantTexts))
			for i, text := range tt.wantTexts {
				require.Len(t, resp.Embeddings[i], tt.wantDim)
				require.Equal(t, ollama.Embed(text, tt.wantDim), resp.Embeddings[i])
				require.InDelta(t, 1.0, norm(resp.Embeddings[i]), 1e-5)
			}
			require.Equal(t, tt.wantPrompt, resp.PromptEvalCount)
		})
	}
}

func TestLegacyEmbeddingsEndpoint(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{Dimension: 48})
	resp, err := s.client.Embeddings(t.Context(), &api.EmbeddingRequest{Model: "nomic-embed-text", Prompt: "legacy prompt"})
	require.NoError(t, err)
	want := ollama.Embed("legacy prompt", 48)
	require.Len(t, resp.Embedding, len(want))
	for i := range want {
		require.Equal(t, float64(want[i]), resp.Embedding[i])
	}
	require.Equal(t, ollama.Stats{EmbedCalls: 1, EmbedTexts: 1}, s.srv.Stats())
}

func TestEmbedCountsTexts(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{})
	for _, input := range []any{[]string{"a", "b", "c"}, "d"} {
		_, err := s.client.Embed(t.Context(), &api.EmbedRequest{Model: "m", Input: input})
		require.NoError(t, err)
	}
	require.Equal(t, ollama.Stats{EmbedCalls: 2, EmbedTexts: 4}, s.srv.Stats())
}
