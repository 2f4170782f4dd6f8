package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/testenv"
)

// cliUser runs the youworker client commands as a user's shell would: a home of its own (the
// credentials go to $XDG_CONFIG_HOME/youworker) and extra environment variables.
type cliUser struct {
	t    *testing.T
	home string
	env  map[string]string
}

func newCLIUser(t *testing.T, env map[string]string) *cliUser {
	return &cliUser{t: t, home: t.TempDir(), env: env}
}

func (c *cliUser) configFile() string {
	return filepath.Join(c.home, "config", "youworker", "config.json")
}

func (c *cliUser) command(stdin io.Reader, args ...string) (*exec.Cmd, *testenv.Buffer, *testenv.Buffer) {
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.home, "XDG_CONFIG_HOME=" + filepath.Join(c.home, "config")}
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr testenv.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, &stdout, &stderr
}

type cliRun struct {
	code           int
	stdout, stderr string
}

// run runs a command to its end (at most two minutes).
func (c *cliUser) run(stdin string, args ...string) cliRun {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := c.command(strings.NewReader(stdin), args...)
	require.NoError(c.t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		c.t.Fatalf("youworker %v did not finish; stderr:\n%s", args, stderr)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(c.t, err)
	}
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// apiKey mints an API key for the user with the scopes the client commands need.
func (u *user) apiKey() string {
	u.p.t.Helper()
	r := u.do("POST", "/v1/account/api-keys", map[string]any{"name": "cli", "scopes": []string{"chat", "documents", "read"}})
	require.Equal(u.p.t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(u.p.t)["key"].(string)
}

// TestCLI runs the client commands against the platform: login with an API key, ask (plain and
// JSON, with a tool call), ingest a file and a directory, a broken file, search, runs, sessions,
// then a password login whose access token is refreshed, and logout.
func TestCLI(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("alice")
	c := newCLIUser(t, nil)

	// Login with an API key from stdin: checked, stored privately where the user's config lives.
	r := c.run("yw_not_a_key\n", "login", "--url", p.apiURL)
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "the API key was refused")
	r = c.run(u.apiKey()+"\n", "login", "--url", p.apiURL)
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stderr, "as alice (API key)")
	st, err := os.Stat(c.configFile())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Dir(c.configFile()))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	// ask: only the answer on stdout; --json with the tool call and the usage.
	r = c.run("", "ask", "hello from the command line")
	require.Equal(t, 0, r.code, "%s", r)
	require.Equal(t, "You said: hello from the command line\n", r.stdout)
	r = c.run("", "ask", "--json", `what time is it? call time_now {"timezone":"UTC"}`)
	require.Equal(t, 0, r.code, "%s", r)
	var answer struct {
		TurnID    string `json:"turn_id"`
		SessionID string `json:"session_id"`
		Status    string `json:"status"`
		Answer    string `json:"answer"`
		ToolCalls []struct {
			Name      string         `json:"name"`
			Arguments map[string]any `json:"arguments"`
			Status    string         `json:"status"`
		} `json:"tool_calls"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &answer), "%s", r)
	require.Equal(t, "completed", answer.Status)
	require.Contains(t, answer.Answer, "Tool time_now returned:")
	require.Len(t, answer.ToolCalls, 1)
	require.Equal(t, "time_now", answer.ToolCalls[0].Name)
	require.Equal(t, map[string]any{"timezone": "UTC"}, answer.ToolCalls[0].Arguments)
	require.Equal(t, "succeeded", answer.ToolCalls[0].Status)
	require.Positive(t, answer.Usage.CompletionTokens)
	turn := u.do("GET", "/v1/sessions/"+answer.SessionID+"/turns/"+answer.TurnID, nil)
	require.Equal(t, http.StatusOK, turn.status, "the ids are the API's")
	require.Equal(t, "completed", turn.json(t)["status"])

	// ingest a file and a directory (hidden files skipped).
	dir := t.TempDir()
	writeFile(t, dir, "notes.md", "# Music notes\n\nViolin bows use horsehair and rosin for grip.\n")
	writeFile(t, dir, "garden/roses.txt", "Roses want a sunny bed and deep watering once a week.\n")
	writeFile(t, dir, "garden/deep/tulips.md", "# Tulips\n\nTulip bulbs go into the ground in autumn.\n")
	writeFile(t, dir, "garden/.secret.md", "hidden files are not ingested\n")
	r = c.run("", "ingest", "--json", filepath.Join(dir, "notes.md"), filepath.Join(dir, "garden"))
	require.Equal(t, 0, r.code, "%s", r)
	var results []struct {
		Source     string `json:"source"`
		DocumentID string `json:"document_id"`
		Status     string `json:"status"`
		Chunks     int    `json:"chunks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &results), "%s", r)
	require.Len(t, results, 3)
	docs := map[string]string{}
	for _, res := range results {
		require.Equal(t, "completed", res.Status, "%+v", res)
		require.Positive(t, res.Chunks, "%+v", res)
		docs[filepath.Base(res.Source)] = res.DocumentID
	}
	require.Equal(t, "ready", u.do("GET", "/v1/documents/"+docs["tulips.md"], nil).json(t)["status"])

	// A broken file fails (and says which) while the others go on; plain lines when piped.
	writeFile(t, dir, "broken.pdf", "%PDF-1.4\nthis is not really a PDF\n%%EOF\n")
	writeFile(t, dir, "more.md", "# Bees\n\nBees dance to tell the hive where the clover is.\n")
	r = c.run("", "ingest", filepath.Join(dir, "broken.pdf"), filepath.Join(dir, "more.md"))
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "1 of 2 failed: "+filepath.Join(dir, "broken.pdf"))
	require.Contains(t, r.stdout, filepath.Join(dir, "broken.pdf")+": failed: BAD_DOCUMENT")
	require.Contains(t, r.stdout, filepath.Join(dir, "more.md")+": completed")
	require.Contains(t, r.stdout, filepath.Join(dir, "more.md")+": embed", "stage changes are reported")

	// search finds what was ingested.
	r = c.run("", "search", "--json", "violin bows horsehair rosin")
	require.Equal(t, 0, r.code, "%s", r)
	var hits []struct {
		DocumentID string `json:"document_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &hits), "%s", r)
	require.NotEmpty(t, hits)
	require.Equal(t, docs["notes.md"], hits[0].DocumentID)
	r = c.run("", "search", "bees dance clover")
	require.Equal(t, 0, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stdout, "SCORE"), "%s", r)
	require.Contains(t, r.stdout, "Bees dance to tell the hive")

	// runs and sessions.
	r = c.run("", "runs", "--json")
	require.Equal(t, 0, r.code, "%s", r)
	var runs []struct {
		Status string `json:"status"`
		Error  *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &runs), "%s", r)
	require.Len(t, runs, 5)
	statuses := map[string]int{}
	for _, run := range runs {
		statuses[run.Status]++
	}
	require.Equal(t, map[string]int{"completed": 4, "failed": 1}, statuses)
	r = c.run("", "runs")
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, "BAD_DOCUMENT")
	r = c.run("", "sessions", "--json")
	require.Equal(t, 0, r.code, "%s", r)
	var sessions []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sessions), "%s", r)
	require.Len(t, sessions, 2)
	require.Equal(t, answer.SessionID, sessions[0].ID, "most recent first")
	require.Equal(t, "hello from the command line", sessions[1].Title)
	r = c.run("", "sessions")
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, "hello from the command line")

	// A password login: tokens stored; an access token the API no longer takes is refreshed (the
	// refresh cookie and CSRF protocol) and the new tokens stored; logout revokes the login.
	pw := newCLIUser(t, nil)
	r = pw.run("wrong password\n", "login", "--url", p.apiURL, "--username", "alice")
	require.Equal(t, 1, r.code, "%s", r)
	r = pw.run("correct horse battery staple\n", "login", "--url", p.apiURL, "--username", "alice")
	require.Equal(t, 0, r.code, "%s", r)
	cfg := readCLIConfig(t, pw.configFile())
	tokens := cfg["tokens"].(map[string]any)
	require.NotEmpty(t, tokens["refresh_token"])
	tokens["access_token"] = "not-a-valid-token"
	writeCLIConfig(t, pw.configFile(), cfg)
	r = pw.run("", "sessions", "--json")
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, answer.SessionID)
	refreshed := readCLIConfig(t, pw.configFile())["tokens"].(map[string]any)
	require.NotEqual(t, "not-a-valid-token", refreshed["access_token"])
	require.NotEqual(t, tokens["refresh_token"], refreshed["refresh_token"], "the rotated refresh token is stored")
	st, err = os.Stat(pw.configFile())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "still private after the refresh")
	r = pw.run("", "logout")
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stderr, "Logged out")
	// The revoked access token no longer works, even if someone kept a copy.
	require.Equal(t, http.StatusUnauthorized, p.request("GET", "/v1/auth/me", refreshed["access_token"].(string), nil, nil).status)
	r = pw.run("", "sessions")
	require.Equal(t, 1, r.code, "%s", r)
	require.Contains(t, r.stderr, "not logged in")
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func readCLIConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func writeCLIConfig(t *testing.T, path string, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// tokenEvents counts the token events stored for the platform's turns.
func tokenEvents(t *testing.T, p *platform, turn uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, openDB(t, p).QueryRow(`SELECT count(*) FROM turn_events WHERE turn_id = $1 AND type = 'token'`, turn).Scan(&n))
	return n
}

// latestTurn is the id of the platform's most recent turn, once there is one.
func latestTurn(t *testing.T, p *platform, after time.Time) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	require.Eventually(t, func() bool {
		return openDB(t, p).QueryRow(`SELECT id FROM turns WHERE started_at > $1 ORDER BY started_at DESC LIMIT 1`, after).Scan(&id) == nil
	}, 30*time.Second, 20*time.Millisecond, "no turn started")
	return id
}

// TestCLIReconnectsWhenTheAPIRestarts kills the API process while ask and chat stream a turn and
// starts a new one on the same address: each command reconnects with Last-Event-ID and prints
// the whole answer exactly once (chat prints the tokens as they come, so a repeated or lost event
// would show).
func TestCLIReconnectsWhenTheAPIRestarts(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(40 * time.Millisecond)
	p.startWorker()
	addr := freeAddr(t)
	api := p.startAPIAt(addr)
	u := p.signup("bruno")
	c := newCLIUser(t, map[string]string{"YOUWORKER_URL": p.apiURL, "YOUWORKER_API_KEY": u.apiKey()})
	want := make([]string, 60)
	for i := range want {
		want[i] = fmt.Sprintf("w%d", i+1)
	}
	answer := strings.Join(want, " ") + "\n"

	// killMidStream waits for the turn to be streaming, kills the API, lets the client find it
	// gone, and starts a new API on the same address.
	killMidStream := func(since time.Time, stillRunning func() bool) {
		turn := latestTurn(t, p, since)
		require.Eventually(t, func() bool { return tokenEvents(t, p, turn) >= 3 }, 30*time.Second, 10*time.Millisecond)
		api.kill()
		time.Sleep(time.Second)
		require.True(t, stillRunning(), "the command waits for the API to come back")
		api = p.startAPIAt(addr)
	}

	for _, mode := range []string{"plain", "json"} {
		t.Run("ask "+mode, func(t *testing.T) {
			since := time.Now().Add(-time.Second)
			args := []string{"ask", "reply-tokens 60 please"}
			if mode == "json" {
				args = append(args, "--json")
			}
			cmd, stdout, stderr := c.command(strings.NewReader(""), args...)
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killMidStream(since, func() bool { return len(done) == 0 })
			select {
			case err := <-done:
				require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			case <-time.After(90 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("ask did not finish; stderr:\n%s", stderr)
			}
			require.Contains(t, stderr.String(), "reconnecting", "the drop was noticed")
			if mode == "plain" {
				require.Equal(t, answer, stdout.String())
				return
			}
			var res map[string]any
			require.NoError(t, json.Unmarshal([]byte(stdout.String()), &res), "%s", stdout)
			require.Equal(t, "completed", res["status"])
			require.Equal(t, strings.TrimSuffix(answer, "\n"), res["answer"])
		})
	}

	t.Run("chat", func(t *testing.T) {
		since := time.Now().Add(-time.Second)
		in, input := io.Pipe()
		cmd, stdout, stderr := c.command(in, "chat")
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		_, err := io.WriteString(input, "reply-tokens 60 in the chat\n")
		require.NoError(t, err)
		killMidStream(since, func() bool { return len(done) == 0 })
		require.Eventually(t, func() bool {
			return strings.HasSuffix(stdout.String(), "\n") && strings.Contains(stdout.String(), "w60")
		},
			90*time.Second, 20*time.Millisecond, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.NoError(t, input.Close()) // Ctrl-D
		select {
		case err := <-done:
			require.NoError(t, err, "stderr:\n%s", stderr)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("chat did not quit at the end of its input; stderr:\n%s", stderr)
		}
		require.Equal(t, answer, stdout.String(), "every token once, in order")
		require.Contains(t, stderr.String(), "reconnecting")
	})
}
