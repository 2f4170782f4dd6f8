package knowledge

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

// A search over the bounds is refused naming the field before anything is embedded or searched:
// the zero Searcher has neither an embedder nor a store, so reaching them would panic.
func TestSearchBounds(t *testing.T) {
	t.Parallel()
	var s Searcher
	c := models.Caller{UserID: uuid.New()}
	for _, tt := range []struct {
		name, field string
		req         Request
	}{
		{"blank query", "query", Request{Query: "  "}},
		{"long query", "query", Request{Query: strings.Repeat("é", MaxQueryChars+1)}},
		{"top_k", "top_k", Request{Query: "q", TopK: MaxTopK + 1}},
		{"document ids", "document_ids", Request{Query: "q", DocumentIDs: make([]uuid.UUID, MaxDocumentIDs+1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Search(t.Context(), c, tt.req)
			require.ErrorIs(t, err, models.ErrInvalid)
			de, ok := err.(*models.Error)
			require.True(t, ok)
			require.Equal(t, tt.field, de.Details["field"])
		})
	}
}

// Passages cite each result by title, page, section, score and document id, in rank order.
func TestPassages(t *testing.T) {
	t.Parallel()
	page := 3
	doc := uuid.New()
	got := Passages([]Result{
		{DocumentID: doc, DocumentTitle: "Manual", Page: &page, HeadingPath: []string{"Care", "Cleaning"}, Score: 0.91, Text: "Use lemon."},
		{DocumentID: doc, DocumentTitle: "Notes", Score: 0.5, Text: "Salt too."},
	})
	require.Equal(t, "[1] Manual, page 3, Care > Cleaning (score 0.91, document "+doc.String()+")\nUse lemon.\n\n"+
		"[2] Notes (score 0.50, document "+doc.String()+")\nSalt too.", got)
	require.Equal(t, "No passage of your documents matches this query.", Passages(nil))
}
