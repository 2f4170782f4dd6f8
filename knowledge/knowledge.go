// Package knowledge answers semantic searches over the documents a caller may read. The API's
// POST /v1/search and the semantic MCP server's knowledge_search tool both use it.
package knowledge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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

// Bounds of a search.
const (
	MaxTopK        = 50
	MaxQueryChars  = 2000
	MaxDocumentIDs = 100
)

// Search returns the chunks nearest to the query that the caller may read now: the vector store
// filters by the caller's user and groups, and the hits are checked again against Postgres, so a
// membership removed a moment ago already counts.
func (s *Searcher) Search(ctx context.Context, c models.Caller, req Request) ([]Result, error) {
	q := strings.TrimSpace(req.Query)
	if q == "" {
		return nil, models.Invalid("query", "query must not be empty")
	}
	if utf8.RuneCountInString(q) > MaxQueryChars {
		return nil, models.Invalid("query", "query must be at most %d characters", MaxQueryChars)
	}
	if len(req.DocumentIDs) > MaxDocumentIDs {
		return nil, models.Invalid("document_ids", "at most %d document ids", MaxDocumentIDs)
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

// Passages renders results as text for a model or an agent to read and cite: each passage with
// its document's title, page and section, score and document id.
func Passages(res []Result) string {
	if len(res) == 0 {
		return "No passage of your documents matches this query."
	}
	var b strings.Builder
	for i, r := range res {
		fmt.Fprintf(&b, "[%d] %s", i+1, r.DocumentTitle)
		if r.Page != nil {
			fmt.Fprintf(&b, ", page %d", *r.Page)
		}
		if len(r.HeadingPath) > 0 {
			fmt.Fprintf(&b, ", %s", strings.Join(r.HeadingPath, " > "))
		}
		fmt.Fprintf(&b, " (score %.2f, document %s)\n%s\n\n", r.Score, r.DocumentID, r.Text)
	}
	return strings.TrimSpace(b.String())
}
