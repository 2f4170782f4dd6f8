package store

import (
	"context"
	"math/rand/v2"
	"time"
)

// Hits is a batch of request counts to add to the shared rate-limit counters: Count[i] requests
// against Key[i] in the window that started at Start[i].
type Hits struct {
	Key   []string
	Start []time.Time
	Count []int
}

// Add appends one counter's increment to the batch.
func (h *Hits) Add(key string, start time.Time, n int) {
	h.Key, h.Start, h.Count = append(h.Key, key), append(h.Start, start), append(h.Count, n)
}

// AddHits adds a batch of counts to the shared counters in one statement and returns each
// counter's total across every API process, in batch order. The counters live in Postgres (an
// UNLOGGED table: losing them in a crash only resets the limits).
func (s *Store) AddHits(ctx context.Context, h Hits) ([]int, error) {
	if len(h.Key) == 0 {
		return nil, nil
	}
	var rows []struct {
		Ord   int
		Count int
	}
	err := s.q(ctx).Raw(`
WITH input AS (
    SELECT * FROM unnest(CAST(@keys AS text[]), CAST(@starts AS timestamptz[]), CAST(@counts AS int[])) WITH ORDINALITY AS x(key, window_start, n, ord)
), up AS (
    INSERT INTO rate_limits (key, window_start, count)
    SELECT key, window_start, n FROM input
    ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + EXCLUDED.count, updated_at = now()
    RETURNING key, window_start, count
)
SELECT input.ord, up.count FROM input JOIN up USING (key, window_start) ORDER BY input.ord`,
		map[string]any{"keys": pgArray[string](h.Key), "starts": pgArray[time.Time](h.Start), "counts": pgArray[int](h.Count)}).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	totals := make([]int, len(h.Key))
	for _, r := range rows {
		totals[r.Ord-1] = r.Count
	}
	if rand.IntN(100) == 0 { // now and then, forget windows long past
		s.q(ctx).Exec(`DELETE FROM rate_limits WHERE window_start < ?`, time.Now().Add(-time.Hour))
	}
	return totals, nil
}
