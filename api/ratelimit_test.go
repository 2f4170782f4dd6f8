package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// Two API processes share their counts through Postgres at each sync; alone, a process is exact;
// counts that could not be shared are kept and shared later.
func TestLimiterSharesCountsAcrossProcesses(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, SlowQuery: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx := context.Background()
	a, b := newLimiter(st, time.Hour, slog.New(slog.DiscardHandler)), newLimiter(st, time.Hour, slog.New(slog.DiscardHandler))
	// Now, not a fixed date: AddHits now and then forgets windows over an hour old.
	now := time.Now().UTC()

	for i := 1; i <= 3; i++ {
		n, end := a.hit("turns:user:1", time.Minute, now)
		require.Equal(t, i, n, "a process alone counts exactly, without waiting for Postgres")
		require.Equal(t, now.Truncate(time.Minute).Add(time.Minute), end)
	}
	n, _ := b.hit("turns:user:1", time.Minute, now)
	require.Equal(t, 1, n, "b has not heard of a's requests yet")
	require.NoError(t, a.sync(ctx, now))
	require.NoError(t, b.sync(ctx, now))
	n, _ = b.hit("turns:user:1", time.Minute, now)
	require.Equal(t, 5, n, "after a sync b counts a's three requests")
	n, _ = a.hit("turns:user:2", time.Minute, now)
	require.Equal(t, 1, n, "keys are counted apart")
	n, _ = a.hit("turns:user:1", time.Minute, now.Add(time.Minute))
	require.Equal(t, 1, n, "a new window starts from zero")

	require.NoError(t, st.Close())
	require.Error(t, a.sync(ctx, now))
	n, _ = a.hit("turns:user:2", time.Minute, now)
	require.Equal(t, 2, n, "counts that could not be shared still count here")

	st2, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, SlowQuery: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer st2.Close()
	a.store = st2
	require.NoError(t, a.sync(ctx, now))
	totals, err := st2.AddHits(ctx, store.Hits{Key: []string{"turns:user:2"}, Start: []time.Time{now.Truncate(time.Minute)}, Count: []int{0}})
	require.NoError(t, err)
	require.Equal(t, []int{2}, totals, "the unshared counts reached Postgres at the next sync")

	require.NoError(t, a.sync(ctx, now.Add(3*time.Minute)))
	a.mu.Lock()
	require.Empty(t, a.windows, "windows that are over and fully shared are forgotten")
	a.mu.Unlock()
}
