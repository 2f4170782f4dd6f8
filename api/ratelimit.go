package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/youworker/youworker/store"
)

// limiter counts requests per key in fixed windows whose totals are shared by every API process
// through Postgres. A request costs no round trip: each process counts locally and, every sync
// interval, adds its new counts to the shared counters in one statement and learns the totals.
// A process alone is exact; with P processes a window admits at most the requests the others
// took during one sync interval more than the limit. When Postgres cannot be reached, each
// process goes on enforcing the limits on what it knows.
type limiter struct {
	store *store.Store
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	windows map[windowKey]*window
}

type windowKey struct {
	key   string
	start time.Time
}

type window struct {
	end      time.Time
	shared   int // the total across processes at the last sync, ours included
	unsynced int // ours since then
	syncing  int // ours in the sync under way
}

func newLimiter(st *store.Store, every time.Duration, log *slog.Logger) *limiter {
	return &limiter{store: st, log: log, every: every, windows: map[windowKey]*window{}}
}

// hit counts one request against key in the current window of the given length and returns the
// count so far in the window (as this process knows it) and when the window ends.
func (l *limiter) hit(key string, length time.Duration, now time.Time) (int, time.Time) {
	start := now.UTC().Truncate(length)
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[windowKey{key, start}]
	if w == nil {
		w = &window{end: start.Add(length)}
		l.windows[windowKey{key, start}] = w
	}
	w.unsynced++
	return w.shared + w.syncing + w.unsynced, w.end
}

// sync adds the counts since the last sync to the shared counters and learns the totals.
func (l *limiter) sync(ctx context.Context, now time.Time) error {
	var batch store.Hits
	var sent []*window
	l.mu.Lock()
	for k, w := range l.windows {
		switch {
		case w.unsynced > 0:
			w.syncing, w.unsynced = w.unsynced, 0
			batch.Add(k.key, k.start, w.syncing)
			sent = append(sent, w)
		case !now.Before(w.end):
			delete(l.windows, k) // over, and nothing left to tell
		}
	}
	l.mu.Unlock()
	totals, err := l.store.AddHits(ctx, batch)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, w := range sent {
		if err != nil {
			w.unsynced += w.syncing // told nobody: try again next time
		} else {
			w.shared = totals[i]
		}
		w.syncing = 0
	}
	return err
}

// run syncs every interval until ctx ends, then once more.
func (l *limiter) run(ctx context.Context) {
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.sync(final, time.Now())
			cancel()
			return
		case <-tick.C:
		}
		err := l.sync(ctx, time.Now())
		if err != nil && !failing {
			l.log.Warn("rate limit counters cannot be shared; limiting on this process's counts", "error", err)
		}
		failing = err != nil
	}
}
