// Package knowledge answers semantic searches over the documents a caller may read. The API's
// POST /v1/search and the semantic MCP server's knowledge_search tool both use it.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	ollama "github.com/ollama/ollama/api"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/vectors"
)

// Searcher embeds a query and searches the vector store under the caller's tenant filter.
type Searcher struct {
	Store      *store.Store
	Vectors    vectors.Store
	Ollama     *ollama.Client
	EmbedModel string
}

// Request is a search.
type Request struct {
	Query       string
	TopK        int
	GroupID     *uuid.UUID
	DocumentIDs []uuid.UUID
}

// Result is one ranked chunk with its document and position, for citations.
type Result struct {
	DocumentID    uuid.UUID `json:"document_id"`
	DocumentTitle string    `json:"document_title"`
	ChunkIndex    int       `json:"chunk_index"`
	Text          string    `json:"text"`
	Score         float32   `json:"score"`
	Page          *int      `json:"page"`
	HeadingPath   []string  `json:"heading_path"`
	Start         int       `json:"start_offset"`
	End           int       `json:"end_offset"`
}

// MaxTopK bounds a search.
const MaxTopK = 50

// Search returns the chunks nearest to the query that the caller may read now: the vector store
// filters by the caller's user and groups, and the hits are checked again against Postgres, so a
// membership removed a moment ago already counts.
func (s *Searcher) Search(ctx context.Context, c models.Caller, req Request) ([]Result, error) {
	q := strings.TrimSpace(req.Query)
	if q == "" {
		return nil, models.Invalid("query", "query must not be empty")
	}
	if req.TopK <= 0 {
		req.TopK = 10
	}
	if req.TopK > MaxTopK {
		return nil, models.Invalid("top_k", "top_k must be at most %d", MaxTopK)
	}
	if req.GroupID != nil {
		if _, ok := c.Groups[*req.GroupID]; !ok {
			return nil, models.NotFound("GROUP", "group")
		}
	}
	tenant, err := vectors.NewTenant(c.UserID, c.GroupIDs())
	if err != nil {
		return nil, err
	}
	resp, err := s.Ollama.Embed(ctx, &ollama.EmbedRequest{Model: s.EmbedModel, Input: q})
	if err != nil || len(resp.Embeddings) != 1 {
		return nil, models.Errorf(models.ErrUnavailable, "EMBEDDER_UNAVAILABLE", "the embedding model is unavailable").Wrap(errors.Join(err))
	}
	vec := resp.Embeddings[0]
	hits, err := s.Vectors.Search(ctx, vectors.Collection{Model: s.EmbedModel, Dim: len(vec)}, tenant,
		vectors.Query{Vector: vec, TopK: req.TopK, GroupID: req.GroupID, DocumentIDs: req.DocumentIDs})
	switch {
	case errors.Is(err, vectors.ErrInvalid):
		return nil, models.Errorf(models.ErrInvalid, "VALIDATION_ERROR", "invalid search").Wrap(err)
	case errors.Is(err, vectors.ErrDimension):
		return nil, fmt.Errorf("the embedding model's dimension does not match the vector store: %w", err)
	case err != nil:
		return nil, models.Errorf(models.ErrUnavailable, "VECTOR_STORE_UNAVAILABLE", "the vector store is unavailable").Wrap(err)
	}
	refs := make([]store.ChunkRef, len(hits))
	for i, h := range hits {
		refs[i] = store.ChunkRef{DocumentID: h.DocumentID, Idx: h.ChunkIndex}
	}
	chunks, err := s.Store.VisibleChunks(ctx, c, refs)
	if err != nil {
		return nil, err
	}
	byRef := make(map[store.ChunkRef]store.SearchChunk, len(chunks))
	for _, ch := range chunks {
		byRef[store.ChunkRef{DocumentID: ch.DocumentID, Idx: ch.Idx}] = ch
	}
	out := make([]Result, 0, len(hits))
	for _, h := range hits {
		ch, ok := byRef[store.ChunkRef{DocumentID: h.DocumentID, Idx: h.ChunkIndex}]
		if !ok {
			continue // no longer readable (or deleted): never shown
		}
		hp := []string(ch.HeadingPath)
		if hp == nil {
			hp = []string{}
		}
		out = append(out, Result{DocumentID: ch.DocumentID, DocumentTitle: ch.Title, ChunkIndex: ch.Idx, Text: ch.Text,
			Score: h.Score, Page: ch.Page, HeadingPath: hp, Start: ch.StartOffset, End: ch.EndOffset})
	}
	return out, nil
}
