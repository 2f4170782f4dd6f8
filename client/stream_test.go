package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/client"
)

// eventLog is a turn's event log as a test server streams it: events 1..n, the last terminal.
func eventLog(n int) []string {
	out := make([]string, n)
	for i := range n - 1 {
		out[i] = fmt.Sprintf("id: %d\nevent: token\ndata: {\"delta\":\"w%d \"}\n\n", i+1, i+1)
	}
	out[n-1] = fmt.Sprintf("id: %d\nevent: turn.completed\ndata: {\"status\":\"completed\"}\n\n", n)
	return out
}

// streamServer serves eventLog(n) from after Last-Event-ID. Each connection is handed to cut,
// which says after how many events to drop it (-1: never) and whether to drop it in the middle of
// an event; it records the Last-Event-ID of every request.
type streamServer struct {
	events []string
	cut    func(conn int) (after int, midEvent bool)
	// ignoreLastID replays from the start whatever the client asks (a buggy or older server).
	ignoreLastID bool

	mu     sync.Mutex
	lastID []string
}

func (s *streamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	conn := len(s.lastID)
	s.lastID = append(s.lastID, r.Header.Get("Last-Event-ID"))
	s.mu.Unlock()
	after := 0
	if v := r.Header.Get("Last-Event-ID"); v != "" && !s.ignoreLastID {
		after, _ = strconv.Atoi(v)
	}
	cutAfter, mid := -1, false
	if s.cut != nil {
		cutAfter, mid = s.cut(conn)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, "retry: 1000\n\n")
	w.(http.Flusher).Flush()
	for i, ev := range s.events[after:] {
		if i == cutAfter {
			if mid {
				fmt.Fprint(w, ev[:len(ev)/2])
				w.(http.Flusher).Flush()
			}
			// Drop the connection the way a killed process does: no clean end of the body.
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		}
		fmt.Fprint(w, ev)
		w.(http.Flusher).Flush()
	}
}

func (s *streamServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lastID...)
}

func follow(t *testing.T, c *client.Client, after int64) ([]client.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evs []client.Event
	_, err := c.Follow(ctx, "/events", after, func(e client.Event) (bool, error) {
		evs = append(evs, e)
		return client.TurnTerminal(e.Type), nil
	})
	return evs, err
}

func requireEachOnce(t *testing.T, evs []client.Event, from, to int) {
	t.Helper()
	require.Len(t, evs, to-from+1)
	for i, e := range evs {
		require.EqualValues(t, from+i, e.ID, "event %d", i)
	}
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
}

func TestFollowResumesWithLastEventIDAfterADrop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		cut      func(int) (int, bool)
		replay   bool
		wantSeen []string
	}{
		{"dropped between events, twice", func(c int) (int, bool) {
			switch c {
			case 0:
				return 3, false
			case 1:
				return 4, false
			}
			return -1, false
		}, false, []string{"", "3", "7"}},
		{"dropped in the middle of an event", func(c int) (int, bool) {
			if c == 0 {
				return 5, true
			}
			return -1, false
		}, false, []string{"", "5"}},
		{"a server that replays from the start is deduplicated", func(c int) (int, bool) {
			if c == 0 {
				return 4, false
			}
			return -1, false
		}, true, []string{"", "4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &streamServer{events: eventLog(12), cut: tc.cut, ignoreLastID: tc.replay}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var notes []string
			var mu sync.Mutex
			c := &client.Client{BaseURL: srv.URL, Notify: func(m string) { mu.Lock(); notes = append(notes, m); mu.Unlock() }}
			evs, err := follow(t, c, 0)
			require.NoError(t, err)
			requireEachOnce(t, evs, 1, 12)
			require.Equal(t, tc.wantSeen, s.seen())
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, notes, len(tc.wantSeen)-1, "each reconnection is announced: %v", notes)
			require.Contains(t, notes[0], "reconnecting")
		})
	}
}

func TestFollowStartsAfterTheGivenEvent(t *testing.T) {
	t.Parallel()
	s := &streamServer{events: eventLog(6)}
	srv := httptest.NewServer(s)
	defer srv.Close()
	evs, err := follow(t, &client.Client{BaseURL: srv.URL}, 2)
	require.NoError(t, err)
	requireEachOnce(t, evs, 3, 6)
	require.Equal(t, []string{"2"}, s.seen())
}

// TestFollowWaitsForTheAPIToComeBack: the API process dies mid-stream and a new one starts on the
// same address a little later; in between connections are refused.
func TestFollowWaitsForTheAPIToComeBack(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	first := &streamServer{events: eventLog(10), cut: func(int) (int, bool) { return 4, true }}
	srvA := httptest.NewUnstartedServer(first)
	srvA.Listener = ln
	srvA.Start()
	second := &streamServer{events: eventLog(10)}
	var srvB *httptest.Server
	var restarted sync.WaitGroup
	restarted.Go(func() {
		// Down as soon as the first connection was served, back after a while.
		require.Eventually(t, func() bool { return len(first.seen()) > 0 }, 10*time.Second, time.Millisecond)
		srvA.Close()
		time.Sleep(700 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listening again on %s: %v", addr, err)
			return
		}
		srvB = httptest.NewUnstartedServer(second)
		srvB.Listener = ln
		srvB.Start()
	})
	defer func() {
		restarted.Wait()
		if srvB != nil {
			srvB.Close()
		}
	}()
	var notes []string
	var mu sync.Mutex
	c := &client.Client{BaseURL: "http://" + addr, Notify: func(m string) { mu.Lock(); notes = append(notes, m); mu.Unlock() }}
	evs, err := follow(t, c, 0)
	require.NoError(t, err)
	requireEachOnce(t, evs, 1, 10)
	require.Equal(t, []string{"4"}, second.seen(), "the new API is asked for what follows event 4")
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(notes), 2, "the refused connections were retried: %v", notes)
}

// TestFollowReconnectsASilentStream: a connection that stops carrying anything (not even the
// keep-alives) is taken for dead and replaced.
func TestFollowReconnectsASilentStream(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			fmt.Fprint(w, "id: 1\nevent: token\ndata: {}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // silent until the client gives up
			return
		}
		require.Equal(t, "1", r.Header.Get("Last-Event-ID"))
		fmt.Fprint(w, "id: 2\nevent: turn.completed\ndata: {}\n\n")
	}))
	defer srv.Close()
	evs, err := follow(t, &client.Client{BaseURL: srv.URL, StreamIdle: 300 * time.Millisecond}, 0)
	require.NoError(t, err)
	requireEachOnce(t, evs, 1, 2)
}

func TestFollowStopsOnAPermanentError(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("X-Request-ID", "req-1")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"TURN_NOT_FOUND","message":"turn not found","request_id":"req-1"}}`)
	}))
	defer srv.Close()
	_, err := follow(t, &client.Client{BaseURL: srv.URL}, 0)
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "TURN_NOT_FOUND: turn not found (HTTP 404, request id req-1)", err.Error())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, calls)
}

func TestFollowGivesUpWhenTheAPIStaysAway(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there
	start := time.Now()
	_, err = follow(t, &client.Client{BaseURL: "http://" + addr, RetryFor: 800 * time.Millisecond}, 0)
	var unreachable *client.UnreachableError
	require.ErrorAs(t, err, &unreachable)
	require.Contains(t, err.Error(), "cannot reach the YouWorker API at http://"+addr)
	require.Contains(t, err.Error(), "YOUWORKER_URL")
	require.Less(t, time.Since(start), 10*time.Second)
}
