package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/youworker/youworker/store"
)

// eventHub holds one LISTEN connection per API process and wakes the streams following a turn or
// an ingestion run when its event log grows. Wake-ups carry no data: streams read the log from Postgres, so a
// missed or duplicated notification costs a query, never an event.
type eventHub struct {
	dsn string
	log *slog.Logger

	mu   sync.Mutex
	subs map[uuid.UUID]map[chan struct{}]struct{}
}

func newEventHub(dsn string, log *slog.Logger) *eventHub {
	return &eventHub{dsn: dsn, log: log, subs: map[uuid.UUID]map[chan struct{}]struct{}{}}
}

// subscribe returns a channel that receives a value whenever the log of id may have grown.
func (h *eventHub) subscribe(turnID uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[turnID] == nil {
		h.subs[turnID] = map[chan struct{}]struct{}{}
	}
	h.subs[turnID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[turnID], ch)
		if len(h.subs[turnID]) == 0 {
			delete(h.subs, turnID)
		}
		h.mu.Unlock()
	}
}

func (h *eventHub) wake(turnID uuid.UUID, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, set := range h.subs {
		if !all && id != turnID {
			continue
		}
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// run listens until ctx ends, reconnecting with backoff. After a reconnect every stream is woken,
// since notifications sent while disconnected are lost.
func (h *eventHub) run(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("turn event listener disconnected", "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (h *eventHub) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, h.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range []string{store.TurnLog.Channel(), store.RunLog.Channel()} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	h.wake(uuid.Nil, true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := uuid.Parse(n.Payload); err == nil {
			h.wake(id, false)
		}
	}
}
