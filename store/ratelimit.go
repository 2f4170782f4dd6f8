package store

import (
	"context"
	"math/rand/v2"
	"time"
)

// Hit counts one request against key in the current fixed window of the given length and returns
// the count so far in the window and when the window ends. The counters live in Postgres (an
// UNLOGGED table: losing them in a crash only resets the limits), so every API process shares them.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int, time.Time, error) {
	now := time.Now().UTC()
	start := now.Truncate(window)
	var count int
	err := s.q(ctx).Raw(`INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1, updated_at = now()
RETURNING count`, key, start).Scan(&count).Error
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	if rand.IntN(500) == 0 { // now and then, forget windows long past
		s.q(ctx).Exec(`DELETE FROM rate_limits WHERE window_start < ?`, now.Add(-time.Hour))
	}
	return count, start.Add(window), nil
}
