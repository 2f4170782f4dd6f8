package vectors

import (
	"context"
	"time"
)

// Timed is s with the duration of every Search reported to observe (the vector search latency
// metric); the other methods are s's own.
func Timed(s Store, observe func(time.Duration)) Store { return timed{s, observe} }

type timed struct {
	Store
	observe func(time.Duration)
}

func (t timed) Search(ctx context.Context, c Collection, tn Tenant, q Query) ([]Hit, error) {
	began := time.Now()
	hits, err := t.Store.Search(ctx, c, tn, q)
	t.observe(time.Since(began))
	return hits, err
}
