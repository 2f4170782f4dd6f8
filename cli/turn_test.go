package cli

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptedAnswer is a turn with a tool call and a model call retried halfway through its answer.
func scriptedAnswer(tr *fakeTurn, _ string) {
	tr.add("turn.started", map[string]any{})
	tr.add("step.started", map[string]any{"step": 1, "kind": "llm", "attempt": 1})
	tr.add("tool.call", map[string]any{"call_id": "1-0", "name": "time_now", "arguments": map[string]any{"timezone": "UTC"}, "step": 1})
	tr.add("tool.result", map[string]any{"call_id": "1-0", "name": "time_now", "status": "succeeded", "bytes": 20, "step": 2})
	tr.add("step.started", map[string]any{"step": 3, "kind": "llm", "attempt": 1})
	tr.tokens(3, 1, "It is ", "noon")
	tr.add("step.started", map[string]any{"step": 3, "kind": "llm", "attempt": 2})
	tr.tokens(3, 2, "It is ", "noon ", "UTC.")
	tr.finish("completed", "It is noon UTC.")
}

func TestAskPrintsOnlyTheAnswer(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.onPost = scriptedAnswer

	// Piped: the answer once, whole, although the model call was retried mid-answer.
	r := api.run(t, runOpts{}, "ask", "what", "time is it?")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "It is noon UTC.\n", r.stdout)
	require.Contains(t, r.stderr, `⚙ time_now {"timezone":"UTC"}`, "tool calls are shown on stderr")
	require.Equal(t, []string{"what time is it?"}, api.posted)

	// On a terminal the answer streams, and the retry is said.
	r = api.run(t, runOpts{stdoutTTY: true}, "ask", "again")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "It is noon\nIt is noon UTC.\n", r.stdout)
	require.Contains(t, r.stderr, "retried (attempt 2)")

	// The question from stdin, with "-" or nothing.
	r = api.run(t, runOpts{stdin: strings.NewReader("from stdin\n")}, "ask", "-")
	require.Equal(t, 0, r.code, r.stderr)
	r = api.run(t, runOpts{stdin: strings.NewReader("piped question")}, "ask")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "piped question", api.posted[len(api.posted)-1])
}

func TestAskJSON(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.onPost = scriptedAnswer
	r := api.run(t, runOpts{stdoutTTY: true}, "ask", "--json", "what time is it?")
	require.Equal(t, 0, r.code, r.stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	require.Equal(t, map[string]any{
		"turn_id": "t1", "session_id": "s1", "status": "completed", "answer": "It is noon UTC.", "steps": float64(1),
		"usage":      map[string]any{"prompt_tokens": float64(11), "completion_tokens": float64(7)},
		"tool_calls": []any{map[string]any{"call_id": "1-0", "name": "time_now", "arguments": map[string]any{"timezone": "UTC"}, "status": "succeeded"}},
	}, got)
}

func TestAskFailures(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.onPost = func(tr *fakeTurn, _ string) { tr.finish("failed", "") }
	cases := []struct {
		name       string
		opts       runOpts
		args       []string
		env        map[string]string
		code       int
		stdout     string
		stderrHas  string
		jsonStatus string
	}{
		{name: "failed turn", args: []string{"ask", "hi"}, code: 1, stderrHas: "the turn failed: LLM_UNAVAILABLE: the model is unavailable"},
		{name: "failed turn as JSON", args: []string{"ask", "--json", "hi"}, code: 1, jsonStatus: "failed"},
		{name: "empty question", args: []string{"ask", "  "}, code: 2, stderrHas: "the question is empty"},
		{name: "no question on a terminal", opts: runOpts{stdinTTY: true}, args: []string{"ask"}, code: 2, stderrHas: "no question"},
		{name: "unknown flag", args: []string{"ask", "--bogus", "hi"}, code: 2, stderrHas: "flag provided but not defined: -bogus"},
		{name: "not logged in", args: []string{"ask", "hi"}, env: map[string]string{"YOUWORKER_API_KEY": ""}, code: 1, stderrHas: "not logged in: run youworker login"},
		{name: "bad URL", args: []string{"ask", "--url", "ftp://x", "hi"}, code: 2, stderrHas: "the API URL must look like"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.env = tc.env
			r := api.run(t, tc.opts, tc.args...)
			require.Equal(t, tc.code, r.code, "stdout %q stderr %q", r.stdout, r.stderr)
			require.Contains(t, r.stderr, tc.stderrHas)
			if tc.jsonStatus != "" {
				var got map[string]any
				require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
				require.Equal(t, tc.jsonStatus, got["status"])
				require.Equal(t, "LLM_UNAVAILABLE", got["error"].(map[string]any)["code"])
			} else {
				require.Empty(t, r.stdout)
			}
		})
	}
}

// TestChatApprovesAndCancels: an approval is asked and answered from the input; Ctrl-C cancels
// the running turn (POST …/cancel) and a second Ctrl-C at the prompt quits.
func TestChatApprovesAndCancels(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	started := make(chan struct{}, 1)
	api.onPost = func(tr *fakeTurn, content string) {
		tr.add("turn.started", map[string]any{})
		switch content {
		case "use the tool":
			tr.add("tool.call", map[string]any{"call_id": "1-0", "name": "delete_all", "arguments": map[string]any{"really": true}})
			tr.add("approval.required", map[string]any{"call_id": "1-0", "name": "delete_all", "reason": "outbound"})
			d := api.waitDecisions(1)
			status := "denied"
			if d[0]["approved"] == true {
				status = "succeeded"
			}
			tr.add("tool.result", map[string]any{"call_id": "1-0", "name": "delete_all", "status": status})
			tr.tokens(3, 1, "done")
			tr.finish("completed", "done")
		case "talk slowly":
			tr.tokens(1, 1, "once ", "upon ")
			started <- struct{}{}
		}
	}
	stdin, input := io.Pipe()
	ints := make(chan os.Signal, 2)
	done := make(chan runResult)
	go func() { done <- api.run(t, runOpts{stdin: stdin, interrupts: ints}, "chat") }()

	_, err := io.WriteString(input, "use the tool\ny\n")
	require.NoError(t, err)
	d := api.waitDecisions(1)
	require.Equal(t, true, d[0]["approved"])
	require.Equal(t, "1-0", d[0]["call_id"])

	_, err = io.WriteString(input, "talk slowly\n")
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the second turn did not start")
	}
	time.Sleep(100 * time.Millisecond) // the tokens reach the screen
	ints <- syscall.SIGINT
	require.Eventually(t, func() bool { api.mu.Lock(); defer api.mu.Unlock(); return api.cancels == 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // back at the prompt
	ints <- syscall.SIGINT
	var r runResult
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("chat did not quit on the second Ctrl-C")
	}
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "done\nonce upon \n", r.stdout)
	require.Contains(t, r.stderr, `Allow the tool call delete_all {"really":true} (outbound)? [y/N]`)
	require.Contains(t, r.stderr, "cancelling the turn")
	require.Contains(t, r.stderr, "(cancelled)")
	require.Equal(t, []string{"use the tool", "talk slowly"}, api.posted)
	_ = input.Close()
}

// TestAskDeniesWithoutATerminal: a piped ask cannot ask; it denies (or approves with --yes).
func TestAskDecidesApprovalsWithoutATerminal(t *testing.T) {
	t.Parallel()
	for _, yes := range []bool{false, true} {
		api := newFakeAPI(t)
		api.onPost = func(tr *fakeTurn, _ string) {
			tr.add("tool.call", map[string]any{"call_id": "1-0", "name": "fetch", "arguments": map[string]any{}})
			tr.add("approval.required", map[string]any{"call_id": "1-0", "name": "fetch"})
			api.waitDecisions(1)
			tr.finish("completed", "ok")
		}
		args := []string{"ask", "go"}
		if yes {
			args = append(args, "--yes")
		}
		r := api.run(t, runOpts{}, args...)
		require.Equal(t, 0, r.code, r.stderr)
		d := api.waitDecisions(1)
		require.Equal(t, yes, d[0]["approved"])
		require.Equal(t, "ok\n", r.stdout)
	}
}
