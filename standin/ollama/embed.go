package ollama

import (
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/ollama/ollama/api"
)

// Embed returns the stand-in's deterministic embedding of text with dim
// components (768 if dim <= 0): normalised feature hashing of the lower-cased
// words, as described in the package comment. The result has unit L2 norm.
func Embed(text string, dim int) []float32 {
	if dim <= 0 {
		dim = defaultDimension
	}
	sum := make([]float64, dim)
	for _, word := range words(text) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(word))
		v := h.Sum64()
		if v>>63 == 1 {
			sum[v%uint64(dim)]--
		} else {
			sum[v%uint64(dim)]++
		}
	}
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	out := make([]float32, dim)
	if norm == 0 {
		fill := float32(1 / math.Sqrt(float64(dim)))
		for i := range out {
			out[i] = fill
		}
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out
}

// words returns the lower-cased runs of Unicode letters and digits of text.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.stats.embedCalls.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	var req api.EmbedRequest
	if !decodeBody(w, r, &req) {
		return
	}
	inputs, ok := embedInputs(req.Input)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid input type")
		return
	}
	s.stats.embedTexts.Add(int64(len(inputs)))
	dim := s.dimension
	if req.Dimensions > 0 {
		dim = req.Dimensions
	}
	if dim > maxDimension {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("dimensions must be at most %d", maxDimension))
		return
	}
	if !s.checkModel(w, req.Model, kindEmbed) || !s.injectFaults(w, r, "embed") {
		return
	}
	if !sleepCtx(r.Context(), time.Duration(s.embedDelay.Load())) {
		return
	}

	resp := api.EmbedResponse{Model: req.Model, Embeddings: make([][]float32, 0, len(inputs))}
	for _, text := range inputs {
		resp.Embeddings = append(resp.Embeddings, Embed(text, dim))
		resp.PromptEvalCount += len(words(text))
	}
	resp.TotalDuration = max(time.Since(start), 1)
	writeJSON(w, http.StatusOK, resp)
}

// embedInputs accepts a string or an array of strings, as Ollama does.
func embedInputs(input any) ([]string, bool) {
	switch in := input.(type) {
	case nil:
		return nil, true
	case string:
		return []string{in}, true
	case []any:
		out := make([]string, 0, len(in))
		for _, v := range in {
			text, ok := v.(string)
			if !ok {
				return nil, false
			}
			out = append(out, text)
		}
		return out, true
	}
	return nil, false
}

// handleEmbeddings serves the legacy single-prompt endpoint.
func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	s.stats.embedCalls.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	var req api.EmbeddingRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.stats.embedTexts.Add(1)
	if !s.checkModel(w, req.Model, kindEmbed) || !s.injectFaults(w, r, "embed") {
		return
	}
	vec := Embed(req.Prompt, s.dimension)
	resp := api.EmbeddingResponse{Embedding: make([]float64, len(vec))}
	for i, x := range vec {
		resp.Embedding[i] = float64(x)
	}
	writeJSON(w, http.StatusOK, resp)
}
