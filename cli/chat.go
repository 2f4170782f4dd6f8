package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/youworker/youworker/client"
)

// maxQuestion bounds what ask reads from stdin (the API has its own, smaller, MAX_MESSAGE_CHARS).
const maxQuestion = 4 << 20

// runAsk asks one question in a new session (or --session) and prints only the answer: streamed
// on a terminal, whole at the end otherwise (so that a retried model call never shows twice), or
// a JSON object with --json. It exits non-zero unless the turn completes.
func runAsk(ctx context.Context, a *app, args []string) error {
	fs := a.flags(true)
	sessionID := fs.String("session", "", "ask in this session (default: a new session titled with the question)")
	yes := fs.Bool("yes", false, "approve every tool call that needs approval (otherwise asked on the terminal, or denied without one)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	fromStdin := len(pos) == 0 || (len(pos) == 1 && pos[0] == "-")
	var question string
	if fromStdin {
		if len(pos) == 0 && a.env.StdinTTY {
			return usagef(`no question: youworker ask "QUESTION", or pipe it in (echo "…" | youworker ask)`)
		}
		b, err := io.ReadAll(io.LimitReader(a.env.Stdin, maxQuestion+1))
		if err != nil {
			return fmt.Errorf("reading the question from stdin: %w", err)
		}
		if len(b) > maxQuestion {
			return usagef("the question on stdin is longer than %d bytes", maxQuestion)
		}
		question = string(b)
	} else {
		question = strings.Join(pos, " ")
	}
	question = strings.TrimSpace(question)
	if question == "" {
		return usagef("the question is empty")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	sid := *sessionID
	if sid == "" {
		s, err := c.CreateSession(ctx, shorten(question, 60), nil)
		if err != nil {
			return fmt.Errorf("creating a session: %w", err)
		}
		sid = s.ID
	}
	t, err := c.PostMessage(ctx, sid, question, newKey())
	if err != nil {
		return postError(sid, err)
	}
	f := &turnFollower{c: c, sessionID: sid, turnID: t.TurnID, eventsURL: t.EventsURL, out: a.env.Stdout, note: a.env.Stderr,
		stream: a.env.StdoutTTY && !a.jsonOut, interrupts: a.env.Interrupts, policy: denyAll}
	switch {
	case *yes:
		f.policy = approveAll
	case a.env.StdinTTY && !fromStdin:
		f.policy, f.lines = askUser, readLines(a.env.Stdin)
	}
	res, err := f.run(ctx)
	if err != nil {
		return err
	}
	if a.jsonOut {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else if !f.printed && res.Answer != "" {
		fmt.Fprint(a.env.Stdout, res.Answer)
		if !strings.HasSuffix(res.Answer, "\n") {
			fmt.Fprintln(a.env.Stdout)
		}
	}
	return turnOutcome(res, f.interrupted)
}

// turnOutcome is the exit of a finished turn.
func turnOutcome(res turnResult, interrupted bool) error {
	switch res.Status {
	case "completed":
		return nil
	case "cancelled":
		if interrupted {
			return exitError{code: exitInterrupted, msg: "the turn was cancelled"}
		}
		return exitError{code: exitFailed, msg: "the turn was cancelled"}
	}
	return exitError{code: exitFailed, msg: "the turn failed: " + res.Error.String()}
}

func postError(sessionID string, err error) error {
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Status == http.StatusNotFound:
			return fmt.Errorf("no session %s (youworker sessions lists yours): %w", sessionID, err)
		case apiErr.Code == "TURN_IN_PROGRESS":
			return fmt.Errorf("session %s is still answering a message; wait for it, or follow it with youworker chat %s: %w", sessionID, sessionID, err)
		}
	}
	return fmt.Errorf("sending the message: %w", err)
}

// runChat is an interactive chat: each line of input is a message; the answer streams, tool
// calls are shown, approvals are asked for, Ctrl-C cancels the running turn and a second Ctrl-C
// (or Ctrl-D) quits. With SESSION it continues that session and follows its running turn.
func runChat(ctx context.Context, a *app, args []string) error {
	fs := a.flags(false)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("chat takes at most one session id, got %d arguments", len(pos))
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	lines := readLines(a.env.Stdin)
	follow := func(sid, turnID, eventsURL string) (bool, error) {
		f := &turnFollower{c: c, sessionID: sid, turnID: turnID, eventsURL: eventsURL, out: a.env.Stdout, note: a.env.Stderr,
			stream: true, lines: lines, policy: askUser, interrupts: a.env.Interrupts}
		res, err := f.run(ctx)
		if err != nil {
			return false, err
		}
		if !f.printed && res.Answer != "" {
			fmt.Fprintln(a.env.Stdout, res.Answer)
		}
		switch res.Status {
		case "failed":
			fmt.Fprintf(a.env.Stderr, "the turn failed: %s\n", res.Error.String())
		case "cancelled":
			fmt.Fprintln(a.env.Stderr, "(cancelled)")
		}
		return f.lines == nil, nil
	}
	sid := ""
	if len(pos) == 1 {
		d, err := c.GetSession(ctx, pos[0])
		if client.IsStatus(err, http.StatusNotFound) {
			return fmt.Errorf("no session %s (youworker sessions lists yours)", pos[0])
		}
		if err != nil {
			return err
		}
		sid = d.Session.ID
		fmt.Fprintf(a.env.Stderr, "session %q, %d messages\n", d.Session.Title, len(d.Messages))
		if n := len(d.Turns); n > 0 && !d.Turns[n-1].Finished() {
			last := d.Turns[n-1]
			fmt.Fprintln(a.env.Stderr, "following the running turn:")
			if _, err := follow(sid, last.ID, last.EventsURL); err != nil {
				return err
			}
		}
	}
	if a.env.StdinTTY {
		fmt.Fprintln(a.env.Stderr, "Type a message and press Enter. Ctrl-C cancels an answer, Ctrl-D or a second Ctrl-C quits.")
	}
	for {
		if a.env.StdinTTY {
			fmt.Fprint(a.env.Stderr, "you> ")
		}
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				return nil
			}
			line = strings.TrimSpace(l)
		case <-a.env.Interrupts:
			fmt.Fprintln(a.env.Stderr)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if line == "" {
			continue
		}
		if line == "/quit" || line == "/exit" {
			return nil
		}
		if sid == "" {
			s, err := c.CreateSession(ctx, shorten(line, 60), nil)
			if err != nil {
				return fmt.Errorf("creating a session: %w", err)
			}
			sid = s.ID
			fmt.Fprintf(a.env.Stderr, "(session %s)\n", sid)
		}
		t, err := c.PostMessage(ctx, sid, line, newKey())
		if err != nil {
			var apiErr *client.Error
			if errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusUnauthorized && apiErr.Status != http.StatusNotFound {
				fmt.Fprintf(a.env.Stderr, "not sent: %v\n", err) // e.g. too long: the chat goes on
				continue
			}
			return postError(sid, err)
		}
		inputEnded, err := follow(sid, t.TurnID, t.EventsURL)
		if err != nil {
			return err
		}
		if inputEnded {
			return nil
		}
	}
}

// shorten cuts s to n runes on one line, for a title.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// newKey is a random idempotency key: a retried post gives the same turn or run.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
