package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/youworker/youworker/sse"
)

// Event is one event of a turn's or an ingestion run's stream.
type Event struct {
	ID   int64
	Type string
	Data json.RawMessage
}

// Decode decodes the event's data into v.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("reading the %s event: %w", e.Type, err)
	}
	return nil
}

// TurnTerminal reports whether a turn event ends its stream.
func TurnTerminal(typ string) bool {
	return typ == "turn.completed" || typ == "turn.failed" || typ == "turn.cancelled"
}

// RunTerminal reports whether an ingestion run event ends its stream.
func RunTerminal(typ string) bool {
	return typ == "run.completed" || typ == "run.failed" || typ == "run.cancelled"
}

// DefaultStreamIdle is how long a stream may stay silent before it is taken for dead: the API
// sends a keep-alive comment every 15 s.
const DefaultStreamIdle = 45 * time.Second

// Follow reads the event stream at path, starting after the event with id after (0: from the
// start), and hands each event to visit once, in order, until visit says stop. When the
// connection drops, or the stream ends before visit stopped, it reconnects with Last-Event-ID
// (with backoff, while the API is unreachable for up to RetryFor) and skips any event it has
// already handed over. It returns the id of the last event handed over.
func (c *Client) Follow(ctx context.Context, path string, after int64, visit func(Event) (stop bool, err error)) (int64, error) {
	last := after
	b := backoff{}
	progress := time.Now()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if time.Since(progress) > c.retryFor() {
				return last, &UnreachableError{URL: c.BaseURL, Err: fmt.Errorf("the event stream %s kept dropping for %s", path, c.retryFor())}
			}
			wait := b.next(0)
			c.notify("connection lost; reconnecting in %s (after event %d)", wait.Round(100*time.Millisecond), last)
			if err := sleep(ctx, wait); err != nil {
				return last, err
			}
		}
		n, stop, err := c.followOnce(ctx, path, &last, visit)
		if stop {
			return last, err
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		var apiErr *Error
		var unreachable *UnreachableError
		var expired *LoginExpiredError
		if errors.As(err, &apiErr) || errors.As(err, &unreachable) || errors.As(err, &expired) {
			return last, err // send has already retried what was worth retrying
		}
		if n > 0 {
			b.reset()
			progress = time.Now()
		}
	}
}

// followOnce reads one connection of the stream. It returns how many new events it handed over,
// whether visit stopped, and why the connection ended.
func (c *Client) followOnce(ctx context.Context, path string, last *int64, visit func(Event) (bool, error)) (int, bool, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	headers := map[string]string{"Accept": "text/event-stream"}
	if *last > 0 {
		headers["Last-Event-ID"] = strconv.FormatInt(*last, 10)
	}
	resp, err := c.send(cctx, request{method: http.MethodGet, path: path, headers: headers, retrySent: true})
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	idle := c.StreamIdle
	if idle <= 0 {
		idle = DefaultStreamIdle
	}
	body := newWatchdog(resp.Body, idle, cancel)
	defer body.stop()
	r := sse.NewReader(body)
	n := 0
	for {
		e, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the API ends a stream only after its terminal event
			}
			return n, false, err
		}
		id, perr := strconv.ParseInt(e.ID, 10, 64)
		if e.Type == "" || perr != nil {
			continue
		}
		if id <= *last {
			continue // already handed over (a server replaying from an older id)
		}
		*last = id
		n++
		stop, err := visit(Event{ID: id, Type: e.Type, Data: json.RawMessage(e.Data)})
		if err != nil || stop {
			return n, true, err
		}
	}
}

// watchdog cancels a stream that stays silent for longer than idle (a peer that vanished
// without closing the connection).
type watchdog struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
	once  sync.Once
}

func newWatchdog(r io.Reader, idle time.Duration, cancel func()) *watchdog {
	return &watchdog{r: r, idle: idle, timer: time.AfterFunc(idle, cancel)}
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.timer.Reset(w.idle)
	}
	return n, err
}

func (w *watchdog) stop() { w.once.Do(func() { w.timer.Stop() }) }
