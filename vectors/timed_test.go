package vectors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type slowSearch struct{ Store }

func (slowSearch) Search(context.Context, Collection, Tenant, Query) ([]Hit, error) {
	time.Sleep(5 * time.Millisecond)
	return []Hit{{Score: 1}}, errors.New("partial")
}

// Timed reports each search's duration and passes its result and error through unchanged.
func TestTimedReportsSearches(t *testing.T) {
	var took []time.Duration
	s := Timed(slowSearch{}, func(d time.Duration) { took = append(took, d) })
	hits, err := s.Search(context.Background(), Collection{}, Tenant{}, Query{})
	require.EqualError(t, err, "partial")
	require.Len(t, hits, 1)
	require.Len(t, took, 1)
	require.GreaterOrEqual(t, took[0], 5*time.Millisecond)
}
