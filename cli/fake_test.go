package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/testenv"
)

// fakeAPI is an httptest API with the routes the client commands use. Turns are scripted: a
// posted message starts turn N, whose events the test appends (and that the events endpoint
// streams, after Last-Event-ID, until the terminal event).
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	changed   *sync.Cond
	turns     []*fakeTurn
	decisions []map[string]any
	cancels   int
	posted    []string
	// onPost, when set, runs when a message starts a turn (to script its events).
	onPost func(turn *fakeTurn, content string)
	// lists answer GET /v1/sessions, /v1/ingestion-runs and POST /v1/search.
	lists map[string]string
}

type fakeTurn struct {
	api    *fakeAPI
	id     string
	events []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, lists: map[string]string{}}
	f.changed = sync.NewCond(&f.mu)
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		f.mu.Lock()
		f.changed.Broadcast()
		f.mu.Unlock()
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// add appends an event to the turn's log.
func (tr *fakeTurn) add(typ string, data any) {
	b, err := json.Marshal(data)
	require.NoError(tr.api.t, err)
	tr.api.mu.Lock()
	defer tr.api.mu.Unlock()
	tr.events = append(tr.events, fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", len(tr.events)+1, typ, b))
	tr.api.changed.Broadcast()
}

func (tr *fakeTurn) tokens(step, attempt int, words ...string) {
	for _, w := range words {
		tr.add("token", map[string]any{"delta": w, "step": step, "attempt": attempt})
	}
}

func (tr *fakeTurn) finish(status, answer string) {
	if answer != "" || status == "completed" {
		tr.add("message", map[string]any{"role": "assistant", "content": answer, "status": status})
	}
	data := map[string]any{"status": status, "steps": 1, "usage": map[string]int{"prompt_tokens": 11, "completion_tokens": 7}}
	typ := "turn." + status
	if status == "failed" {
		data["error"] = map[string]string{"code": "LLM_UNAVAILABLE", "message": "the model is unavailable"}
	}
	tr.add(typ, data)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	switch {
	case r.Method == "GET" && p == "/v1/auth/me":
		fmt.Fprint(w, `{"id":"u1","username":"alice"}`)
	case r.Method == "POST" && p == "/v1/sessions":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"s1","title":"t"}`)
	case r.Method == "POST" && strings.HasSuffix(p, "/messages"):
		var body struct{ Content string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		tr := &fakeTurn{api: f, id: "t" + strconv.Itoa(len(f.turns)+1)}
		f.turns = append(f.turns, tr)
		f.posted = append(f.posted, body.Content)
		onPost := f.onPost
		f.mu.Unlock()
		if onPost != nil {
			go onPost(tr, body.Content)
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"turn_id":%q,"status":"running","events_url":"/v1/sessions/s1/turns/%s/events"}`, tr.id, tr.id)
	case r.Method == "GET" && strings.HasSuffix(p, "/events"):
		f.stream(w, r, strings.Split(p, "/")[5])
	case r.Method == "POST" && strings.HasSuffix(p, "/cancel"):
		f.mu.Lock()
		f.cancels++
		tr := f.turns[len(f.turns)-1]
		f.mu.Unlock()
		tr.finish("cancelled", "")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == "POST" && strings.Contains(p, "/approvals/"):
		var d map[string]any
		_ = json.NewDecoder(r.Body).Decode(&d)
		d["call_id"] = p[strings.LastIndex(p, "/")+1:]
		f.mu.Lock()
		f.decisions = append(f.decisions, d)
		f.changed.Broadcast()
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		key := r.Method + " " + p
		f.mu.Lock()
		body, ok := f.lists[key]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":"NOT_FOUND","message":"no route %s","request_id":"r1"}}`, key)
			return
		}
		fmt.Fprint(w, body)
	}
}

func (f *fakeAPI) stream(w http.ResponseWriter, r *http.Request, turnID string) {
	f.mu.Lock()
	var tr *fakeTurn
	for _, t := range f.turns {
		if t.id == turnID {
			tr = t
		}
	}
	f.mu.Unlock()
	if tr == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	after, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	stop := context.AfterFunc(r.Context(), func() { f.mu.Lock(); f.changed.Broadcast(); f.mu.Unlock() })
	defer stop()
	for next := after; ; {
		f.mu.Lock()
		for len(tr.events) <= next && r.Context().Err() == nil {
			f.changed.Wait()
		}
		evs := tr.events[next:]
		f.mu.Unlock()
		if r.Context().Err() != nil {
			return
		}
		for _, ev := range evs {
			next++
			fmt.Fprint(w, ev)
			if strings.Contains(ev, "event: turn.") && !strings.Contains(ev, "event: turn.started") {
				w.(http.Flusher).Flush()
				return
			}
		}
		w.(http.Flusher).Flush()
	}
}

// waitDecisions waits until n approval decisions arrived and returns them.
func (f *fakeAPI) waitDecisions(n int) []map[string]any {
	deadline := time.Now().Add(10 * time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.decisions) < n {
		if time.Now().After(deadline) {
			f.t.Errorf("no %d decisions within 10s", n)
			return f.decisions
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		f.mu.Lock()
	}
	return append([]map[string]any(nil), f.decisions...)
}

// run runs a client command in process against the fake API.
type runResult struct {
	code           int
	stdout, stderr string
}

type runOpts struct {
	stdin      io.Reader
	stdoutTTY  bool
	stdinTTY   bool
	interrupts chan os.Signal
	env        map[string]string
}

func (f *fakeAPI) run(t *testing.T, o runOpts, args ...string) runResult {
	t.Helper()
	env := map[string]string{"YOUWORKER_URL": f.srv.URL, "YOUWORKER_API_KEY": "yw_test", "YOUWORKER_CONFIG_DIR": t.TempDir()}
	for k, v := range o.env {
		env[k] = v
	}
	return runCLI(t, o, env, args...)
}

func runCLI(t *testing.T, o runOpts, env map[string]string, args ...string) runResult {
	t.Helper()
	var stdout, stderr testenv.Buffer
	if o.stdin == nil {
		o.stdin = strings.NewReader("")
	}
	e := Env{Stdin: o.stdin, Stdout: &stdout, Stderr: &stderr, StdinTTY: o.stdinTTY, StdoutTTY: o.stdoutTTY,
		Interrupts: o.interrupts, Getenv: func(k string) string { return env[k] }, Version: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Run(ctx, e, args)
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
