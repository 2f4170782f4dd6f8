package store

import (
	"context"
	"time"
)

// SlowProbe runs a query that takes d and binds secret as a parameter.
func (s *Store) SlowProbe(ctx context.Context, d time.Duration, secret string) error {
	var out string
	return s.q(ctx).Raw("SELECT ?::text FROM pg_sleep(?)", secret, d.Seconds()).Scan(&out).Error
}
