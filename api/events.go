package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// eventHub holds one LISTEN connection per API process and hands the streams following a turn or
// an ingestion run what its event log grew by. Notifications carry the new events when they fit
// (store.ParseNotification); the log in Postgres stays the truth: a stream reads it whenever what
// it was handed leaves a gap (an id-only notification, a reconnect, an overflow), so a lost or
// duplicated notification costs a query, never an event.
type eventHub struct {
	dsn string
	log *slog.Logger
	// callers hears of changes to callers on the same connection; nil when not caching them.
	callers *callerCache

	mu   sync.Mutex
	subs map[uuid.UUID]map[*subscription]struct{}
}

func newEventHub(dsn string, log *slog.Logger) *eventHub {
	return &eventHub{dsn: dsn, log: log, subs: map[uuid.UUID]map[*subscription]struct{}{}}
}

// maxQueued bounds what a slow stream may have waiting; beyond it the stream reads the log.
const maxQueued = 1000

// subscription is one stream's mailbox: events handed over and not taken yet, or the word that
// the stream must read the log itself.
type subscription struct {
	wake chan struct{} // receives a value whenever there is something to take

	mu     sync.Mutex
	events []models.Event
	reread bool
}

// deliver queues events (in seq order); nil asks the stream to read the log.
func (s *subscription) deliver(events []models.Event) {
	s.mu.Lock()
	switch {
	case events == nil || len(s.events)+len(events) > maxQueued:
		s.events, s.reread = nil, true
	default:
		s.events = append(s.events, events...)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns what was delivered since the last take, and whether the log must be read.
func (s *subscription) take() ([]models.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events, reread := s.events, s.reread
	s.events, s.reread = nil, false
	return events, reread
}

// earlySubscription subscribes a stream to a new turn's log before the turn's workflow starts
// (chat.Message.BeforeStart): the stream then takes every event from notifications, with no first
// read of the log. Close it when the stream ends.
type earlySubscription struct {
	hub         *eventHub
	sub         *subscription
	unsubscribe func()
}

// beforeStart is the chat.Message.BeforeStart hook.
func (e *earlySubscription) beforeStart(id uuid.UUID) { e.sub, e.unsubscribe = e.hub.subscribe(id) }

// made is the subscription, nil when beforeStart was not called (a turn found by its idempotency key).
func (e *earlySubscription) made() *subscription { return e.sub }

func (e *earlySubscription) close() {
	if e.unsubscribe != nil {
		e.unsubscribe()
	}
}

// subscribe returns the mailbox of a stream following the log of id.
func (h *eventHub) subscribe(id uuid.UUID) (*subscription, func()) {
	sub := &subscription{wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs[id] == nil {
		h.subs[id] = map[*subscription]struct{}{}
	}
	h.subs[id][sub] = struct{}{}
	h.mu.Unlock()
	return sub, func() {
		h.mu.Lock()
		delete(h.subs[id], sub)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

// deliver hands events of the log of id to its streams; all (after a reconnect) hands them to
// every stream (nil events: read your log). A notification costs its own streams, not a walk
// over every stream of the process.
func (h *eventHub) deliver(id uuid.UUID, events []models.Event, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !all {
		for sub := range h.subs[id] {
			sub.deliver(events)
		}
		return
	}
	for _, set := range h.subs {
		for sub := range set {
			sub.deliver(events)
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
	return store.Listen(ctx, h.dsn, store.Notifications{
		Ready: func() {
			h.callers.listening(true)
			h.deliver(uuid.Nil, nil, true)
		},
		Closed:        func() { h.callers.listening(false) },
		Appended:      func(id uuid.UUID, events []models.Event) { h.deliver(id, events, false) },
		CallerChanged: h.callers.drop,
		Unreadable: func(channel string, err error) {
			h.log.Warn("unreadable event notification", "channel", channel, "error", err)
		},
	})
}
