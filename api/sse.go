package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/telemetry"
)

const (
	ssePollEvery      = 2 * time.Second  // safety net when a notification is lost
	sseKeepAliveEvery = 15 * time.Second // a comment line keeps proxies from closing an idle stream
	sseBatch          = 500
)

// turnEvents streams a turn's events. Last-Event-ID (header or ?last_event_id=) resumes after
// that event: a reconnecting client misses nothing and sees nothing twice. A finished turn
// replays its events and the stream ends after the terminal event.
func (s *Server) turnEvents(c *gin.Context) {
	t, err := s.turnFromPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	after, err := lastEventID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.streamTurn(c, t.ID, after, nil)
}

// lastEventID reads Last-Event-ID (header, or ?last_event_id= for clients that cannot set it).
func lastEventID(c *gin.Context) (int64, error) {
	last := c.GetHeader("Last-Event-ID")
	if last == "" {
		last = c.Query("last_event_id")
	}
	if last == "" {
		return 0, nil
	}
	after, err := strconv.ParseInt(last, 10, 64)
	if err != nil || after < 0 {
		return 0, models.Invalid("Last-Event-ID", "Last-Event-ID must be the id of an event of this stream")
	}
	return after, nil
}

func turnTerminal(typ string) bool {
	return typ == models.EventTurnCompleted || typ == models.EventTurnFailed || typ == models.EventTurnCancelled
}

// streamTurn writes the turn's events after seq `after` as SSE until its terminal event; early is
// the subscription made before a new turn's workflow started (nil: none).
func (s *Server) streamTurn(c *gin.Context, turnID uuid.UUID, after int64, early *subscription) {
	c.Header("X-Turn-ID", turnID.String())
	s.streamEvents(c, store.TurnLog, turnID, after, early, turnTerminal)
}

// streamEvents writes the events of log id after seq `after` as SSE until a terminal event, the
// client leaving, or the server stopping.
func (s *Server) streamEvents(c *gin.Context, log store.EventLog, id uuid.UUID, after int64, early *subscription, terminal func(string) bool) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := c.Writer
	fmt.Fprint(w, "retry: 1000\n\n")
	w.Flush()
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()
	lastWrite := time.Now()
	s.follow(c.Request.Context(), log, id, after, early, func(ev models.Event, data []byte) bool {
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, data)
		s.metrics.sseEvents.Inc()
		lastWrite = time.Now()
		if terminal(ev.Type) {
			w.Flush()
			return true
		}
		return false
	}, func() {
		if time.Since(lastWrite) >= sseKeepAliveEvery {
			fmt.Fprint(w, ": keep-alive\n\n")
			lastWrite = time.Now()
		}
		w.Flush()
	})
}

// follow reads the events of log id after seq `after` in order, decrypted, and hands each to
// visit until visit returns true, the context ends or the server stops. It subscribes before the
// first read, so nothing is missed; events that arrive in notifications are taken from there, and
// the log is read again whenever they leave a gap. A lost notification costs at most
// ssePollEvery. caughtUp, when set, runs each time the log has nothing more for now (flushes,
// keep-alives). An event that cannot be decrypted is logged and skipped; a failed read is retried.
// early, when set, is a subscription made before anything was written to the log (a new turn,
// before its workflow started; its owner ends it): there is nothing to catch up with, so the
// first read is skipped, and a notification that does not start at after+1 still makes it read.
func (s *Server) follow(ctx context.Context, log store.EventLog, id uuid.UUID, after int64, early *subscription,
	visit func(ev models.Event, data []byte) (stop bool), caughtUp func()) {
	sub := early
	if sub == nil {
		var unsubscribe func()
		sub, unsubscribe = s.events.subscribe(id)
		defer unsubscribe()
	}
	read := early == nil // the first read catches up with what was there before subscribing
	// Only that first read is traced: a stream lives for minutes and would otherwise add a span
	// under the request's every ssePollEvery (docs/decisions.md, "Traces").
	readCtx := ctx
	poll := time.NewTicker(ssePollEvery)
	defer poll.Stop()
	hand := func(ev models.Event) (stop bool) {
		after = ev.Seq
		data, err := s.box.Decrypt(log.EventData(id, ev.Key), ev.Data)
		if err != nil {
			s.log.ErrorContext(ctx, "event cannot be decrypted; skipped", "id", id, "seq", ev.Seq)
			return false
		}
		return visit(ev, data)
	}
	for {
		if read {
			s.metrics.logReads.Inc()
			evs, err := s.store.EventsAfter(readCtx, log, id, after, sseBatch)
			readCtx = telemetry.Detach(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "reading events failed; retrying", "id", id, "error", err)
			}
			for _, ev := range evs {
				if hand(ev) {
					return
				}
			}
			if len(evs) == sseBatch {
				continue
			}
			read = err != nil
		}
		if caughtUp != nil {
			caughtUp()
		}
		select {
		case <-sub.wake:
		case <-poll.C:
			read = true
		case <-ctx.Done():
			return
		case <-s.stopping.Done():
			return
		}
		queued, reread := sub.take()
		read = read || reread
		for _, ev := range queued {
			if ev.Seq <= after {
				continue // already read from the log
			}
			if ev.Seq != after+1 {
				read = true // a gap: the log has the events in between
				break
			}
			if hand(ev) {
				return
			}
		}
	}
}
