// Package e2e runs YouWorker end to end: the real youworker binary (API and worker processes),
// the real Temporal dev server, real Postgres, the real built-in MCP servers and the Ollama
// stand-in, driven through the public REST API.
package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/mcpservers/datetime"
	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

var binary string // the youworker binary under test, built once

// quiet discards the logs of in-process test services.
var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	testenv.SearchAttributes = workflows.SearchAttributes()
	dir, err := os.MkdirTemp("", "yw-e2e-bin-")
	if err != nil {
		panic(err)
	}
	root, err := devservices.RepoRoot()
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "youworker")
	for out, pkg := range map[string]string{binary: "./cmd/youworker", filepath.Join(dir, "youworker-extract"): "./cmd/youworker-extract"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			panic("building " + pkg + ": " + err.Error())
		}
	}
	testenv.Main(m, func() { _ = os.RemoveAll(dir) })
}

// platform is one private YouWorker deployment: its own database and task queue on the shared
// Temporal server, its own Ollama stand-in and datetime MCP server, and API/worker processes.
type platform struct {
	t      *testing.T
	env    map[string]string
	ollama *ollama.Server
	box    *encryption.Box
	db     testenv.DB
	apiURL string
	// metricsURL is the latest API's operator listener (METRICS_ADDR): /metrics, /health/detailed.
	metricsURL string
	// workerMetricsURL is the latest worker's (startWorker) operator listener: /metrics, /health.
	workerMetricsURL string
	logs             *testenv.Buffer
}

// newPlatform prepares a platform; extra overrides environment variables of its processes.
// Call startWorker and startAPI to run it.
func newPlatform(t *testing.T, extra map[string]string) *platform {
	t.Helper()
	tmp := testenv.Temporal(t)
	return newPlatformOn(t, tmp.Address, tmp.Namespace, extra)
}

// newPlatformOn is newPlatform on the Temporal frontend at address.
func newPlatformOn(t *testing.T, address, namespace string, extra map[string]string) *platform {
	t.Helper()
	db := testenv.NewDB(t)
	st, base, shutdown, err := ollama.Start(ollama.Options{Logger: quiet, VisionModels: []string{"llava:7b"}}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	mcp := httptest.NewServer(datetime.Handler(datetime.Options{Logger: quiet}))
	t.Cleanup(mcp.Close)
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	box, err := encryption.New([]string{key})
	require.NoError(t, err)
	env := map[string]string{
		"DATABASE_URL":              db.DSN,
		"TEMPORAL_ADDRESS":          address,
		"TEMPORAL_NAMESPACE":        namespace,
		"TEMPORAL_TASK_QUEUE":       testenv.TaskQueue(t),
		"OLLAMA_HOST":               base,
		"JWT_SECRET":                "e2e-secret-e2e-secret-e2e-secret-e2e",
		"FERNET_KEYS":               key,
		"COOKIE_SECURE":             "false",
		"MCP_SERVERS":               "datetime=" + mcp.URL + "/mcp",
		"LLM_HEARTBEAT_TIMEOUT":     "2s",
		"WORKER_HEARTBEAT_THROTTLE": "200ms",
		"WORKER_STOP_TIMEOUT":       "5s",
		"HTTP_SHUTDOWN_TIMEOUT":     "2s",
		"DB_POOL_SIZE":              "4",
		"LOG_LEVEL":                 "info",
		"DATA_DIR":                  t.TempDir(),
		"EMBED_BATCH":               "16",
		"INGEST_HEARTBEAT_TIMEOUT":  "3s",
		"RATE_LIMIT_AUTH":           "1000",
	}
	for k, v := range extra {
		env[k] = v
	}
	p := &platform{t: t, env: env, ollama: st, box: box, db: db, logs: &testenv.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", p.logs)
		}
	})
	return p
}

// proc is a youworker process the test started; the test kills it by PID.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *platform) spawn(args ...string) *proc {
	p.t.Helper()
	return p.spawnWith(nil, args...)
}

// spawnWith starts a process with p.env plus overrides of its own.
func (p *platform) spawnWith(overrides map[string]string, args ...string) *proc {
	p.t.Helper()
	cmd := exec.Command(binary, args...)
	for k, v := range p.env {
		if _, ok := overrides[k]; !ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for k, v := range overrides {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(p.t, cmd.Start())
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(pr.done) }()
	p.t.Cleanup(func() { pr.kill() })
	return pr
}

func (pr *proc) kill() {
	select {
	case <-pr.done:
		return
	default:
	}
	_ = pr.cmd.Process.Signal(syscall.SIGKILL)
	<-pr.done
}

// stop sends SIGTERM and waits for the process to exit.
func (pr *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, pr.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-pr.done:
	case <-time.After(30 * time.Second):
		t.Fatal("process did not stop after SIGTERM")
	}
}

// startWorker starts a worker process with its operator endpoint on a free port.
func (p *platform) startWorker() *proc {
	addr := freeAddr(p.t)
	p.workerMetricsURL = "http://" + addr
	return p.spawnWith(map[string]string{"WORKER_METRICS_ADDR": addr}, "worker")
}

// startMCP starts built-in MCP server processes (semantic, ingest) and adds them to MCP_SERVERS;
// call it before starting the worker.
func (p *platform) startMCP(names ...string) {
	p.t.Helper()
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(p.t, err)
		addr := ln.Addr().String()
		_ = ln.Close()
		p.spawn("mcp", name, "--addr", addr)
		url := "http://" + addr + "/mcp"
		require.Eventually(p.t, func() bool {
			resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
			if err != nil {
				return false
			}
			_ = resp.Body.Close()
			return true
		}, 20*time.Second, 20*time.Millisecond, "MCP server %s did not start; logs:\n%s", name, p.logs)
		p.env["MCP_SERVERS"] += "," + name + "=" + url
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startAPI starts an API process on free ports (the API's and the metrics listener's) and waits
// until it answers.
func (p *platform) startAPI() *proc {
	p.t.Helper()
	return p.startAPIAt(freeAddr(p.t))
}

// startPublicAPI is startAPI with PUBLIC_URL set to the API's own address, as a deployment sets
// it: requests that pages the API serves (the console) make to it are then same-origin.
func (p *platform) startPublicAPI() *proc {
	p.t.Helper()
	addr := freeAddr(p.t)
	p.env["PUBLIC_URL"] = "http://" + addr
	return p.startAPIAt(addr)
}

// startAPIAt starts an API process listening on addr (a restarted API on its old address: what
// its clients reconnect to) and waits until it answers.
func (p *platform) startAPIAt(addr string) *proc {
	p.t.Helper()
	p.env["API_ADDR"] = addr
	p.env["METRICS_ADDR"] = freeAddr(p.t)
	pr := p.spawn("api")
	p.apiURL = "http://" + addr
	p.metricsURL = "http://" + p.env["METRICS_ADDR"]
	require.Eventually(p.t, func() bool {
		resp, err := http.Get(p.apiURL + "/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "API did not start; logs:\n%s", p.logs)
	return pr
}

// start runs one worker and one API.
func (p *platform) start() *platform {
	p.startWorker()
	p.startAPI()
	return p
}

// user is a logged-in API client (bearer token).
type user struct {
	p     *platform
	token string
	id    string
}

func (p *platform) signup(name string) *user {
	p.t.Helper()
	body := map[string]any{"username": name, "password": "correct horse battery staple"}
	r := p.request("POST", "/v1/auth/register", "", body, nil)
	require.Equal(p.t, http.StatusCreated, r.status, "%s", r.body)
	r = p.request("POST", "/v1/auth/login", "", body, nil)
	require.Equal(p.t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(p.t)
	return &user{p: p, token: m["access_token"].(string), id: m["user"].(map[string]any)["id"].(string)}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "%s", r.body)
	return m
}

func (p *platform) request(method, path, token string, body any, headers map[string]string) reply {
	p.t.Helper()
	cl := apitest.Client{Base: p.apiURL, Token: token}
	r, err := cl.Do(context.Background(), method, path, body, headers)
	require.NoError(p.t, err)
	return reply{status: r.Status, header: r.Header, body: r.Body}
}

func (u *user) do(method, path string, body any) reply {
	return u.p.request(method, path, u.token, body, nil)
}

func (u *user) newSession(tools []string) string {
	u.p.t.Helper()
	r := u.do("POST", "/v1/sessions", map[string]any{"title": "e2e", "tools": tools})
	require.Equal(u.p.t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(u.p.t)["id"].(string)
}

// send posts a message and returns the started turn.
func (u *user) send(sessionID, content string) (turnID, eventsURL string) {
	u.p.t.Helper()
	r := u.do("POST", "/v1/sessions/"+sessionID+"/messages", map[string]any{"content": content})
	require.Equal(u.p.t, http.StatusAccepted, r.status, "%s", r.body)
	m := r.json(u.p.t)
	return m["turn_id"].(string), m["events_url"].(string)
}

// sseEvent is one server-sent event.
type sseEvent = apitest.Event

// stream reads an SSE response into events until it ends; events arrive on the channel as they
// are read, and the channel closes at the end of the stream.
func (u *user) stream(ctx context.Context, path string, lastID int64) (<-chan sseEvent, error) {
	cl := apitest.Client{Base: u.p.apiURL, Token: u.token}
	return cl.Stream(ctx, path, lastID)
}

func readSSE(body io.ReadCloser) <-chan sseEvent { return apitest.ReadSSE(body) }

// collect drains a stream until it ends or the timeout passes.
func collect(t *testing.T, ch <-chan sseEvent, timeout time.Duration) []sseEvent {
	t.Helper()
	return read(t, ch, "", timeout)
}

// until reads a stream until an event of type typ (returned last); the stream ending first fails.
func until(t *testing.T, ch <-chan sseEvent, typ string, timeout time.Duration) []sseEvent {
	t.Helper()
	return read(t, ch, typ, timeout)
}

// read reads ch until an event of type stop, or until the stream ends when stop is "".
func read(t *testing.T, ch <-chan sseEvent, stop string, timeout time.Duration) []sseEvent {
	t.Helper()
	var evs []sseEvent
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				if stop != "" {
					t.Fatalf("the stream ended before %s: %v", stop, types(evs))
				}
				return evs
			}
			evs = append(evs, ev)
			if stop != "" && ev.Type == stop {
				return evs
			}
		case <-deadline:
			if stop != "" {
				t.Fatalf("no %s within %s; got %v", stop, timeout, types(evs))
			}
			t.Fatalf("stream did not end within %s; got %d events: %v", timeout, len(evs), types(evs))
		}
	}
}

func types(evs []sseEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// compact collapses runs of token events into one "token*" entry.
func compact(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "token" && len(out) > 0 && out[len(out)-1] == "token*" {
			continue
		}
		if e.Type == "token" {
			out = append(out, "token*")
			continue
		}
		out = append(out, e.Type)
	}
	return out
}

// tokensOf joins the token deltas of the given step and attempt.
func tokensOf(evs []sseEvent, step, attempt int) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Type == "token" && int(e.Data["step"].(float64)) == step && int(e.Data["attempt"].(float64)) == attempt {
			b.WriteString(e.Data["delta"].(string))
		}
	}
	return b.String()
}

// requireIDsContiguous checks that event ids run 1..n without gap or repeat.
func requireIDsContiguous(t *testing.T, evs []sseEvent) {
	t.Helper()
	for i, e := range evs {
		require.EqualValues(t, i+1, e.ID, "event %d (%s)", i, e.Type)
	}
}
