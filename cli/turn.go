package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/youworker/youworker/client"
)

// approvalPolicy says who decides a tool call that needs approval.
type approvalPolicy int

const (
	askUser    approvalPolicy = iota // prompt and read the answer from lines
	approveAll                       // ask --yes
	denyAll                          // nobody to ask
)

// turnFollower follows one turn's events to its end: it shows the answer and the tool calls,
// has approvals decided, and cancels the turn on Ctrl-C (a second Ctrl-C gives up waiting).
type turnFollower struct {
	c                 *client.Client
	sessionID, turnID string
	eventsURL         string
	out, note         io.Writer
	stream            bool // print tokens as they arrive (else the answer is the caller's to print)
	lines             <-chan string
	policy            approvalPolicy
	interrupts        <-chan os.Signal
	midLine           bool // out has text without its line end
	printed           bool // tokens were printed
	interrupted       bool // the user pressed Ctrl-C (and the turn was asked to cancel)
	streamed          map[int]int
	pending           []pendingApproval
	calls             map[string]int // call id → index in the result's tool calls
}

type pendingApproval struct {
	callID, name, args, reason string
}

// turnResult is what ask --json prints.
type turnResult struct {
	TurnID    string            `json:"turn_id"`
	SessionID string            `json:"session_id"`
	Status    string            `json:"status"`
	Answer    string            `json:"answer"`
	ToolCalls []toolCall        `json:"tool_calls"`
	Usage     client.Usage      `json:"usage"`
	Steps     int               `json:"steps"`
	Error     *client.ErrorInfo `json:"error,omitempty"`
}

type toolCall struct {
	CallID    string         `json:"call_id"`
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
	Status    string         `json:"status,omitempty"`
	Approved  *bool          `json:"approved,omitempty"`
}

// run follows the turn until its terminal event.
func (f *turnFollower) run(ctx context.Context) (turnResult, error) {
	res := turnResult{TurnID: f.turnID, SessionID: f.sessionID, ToolCalls: []toolCall{}}
	f.streamed, f.calls = map[int]int{}, map[string]int{}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan client.Event, 64)
	var ferr error
	go func() {
		defer close(events)
		_, ferr = f.c.Follow(fctx, f.eventsURL, 0, func(e client.Event) (bool, error) {
			select {
			case events <- e:
				return client.TurnTerminal(e.Type), nil
			case <-fctx.Done():
				return true, fctx.Err()
			}
		})
	}()
	for {
		var lines <-chan string
		if len(f.pending) > 0 && f.policy == askUser {
			lines = f.lines
		}
		select {
		case e, ok := <-events:
			if !ok {
				if ferr == nil {
					ferr = errors.New("the event stream ended before the turn did")
				}
				return res, fmt.Errorf("following turn %s: %w", f.turnID, ferr)
			}
			done, err := f.handle(ctx, e, &res)
			if err != nil || done {
				f.endLine()
				return res, err
			}
		case line, ok := <-lines:
			p := f.pending[0]
			f.pending = f.pending[1:]
			approved, reason := false, "denied in youworker chat"
			switch {
			case !ok:
				f.lines, reason = nil, "no answer: the input ended"
			case isYes(line):
				approved, reason = true, ""
			}
			if err := f.decide(ctx, p, approved, reason, &res); err != nil {
				return res, err
			}
			f.promptNext()
		case <-f.interrupts:
			if f.interrupted {
				f.endLine()
				return res, errInterrupted
			}
			f.interrupted = true
			f.notef("cancelling the turn… (Ctrl-C again to stop waiting; the turn may go on)")
			cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
			err := f.c.CancelTurn(cctx, f.sessionID, f.turnID)
			ccancel()
			if err != nil && !client.IsStatus(err, http.StatusConflict) {
				f.notef("could not cancel the turn: %v", err)
			}
		}
	}
}

func isYes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes":
		return true
	}
	return false
}

// handle shows one event and reports whether it ended the turn.
func (f *turnFollower) handle(ctx context.Context, e client.Event, res *turnResult) (bool, error) {
	var d struct {
		Delta     string            `json:"delta"`
		Step      int               `json:"step"`
		Attempt   int               `json:"attempt"`
		Kind      string            `json:"kind"`
		CallID    string            `json:"call_id"`
		Name      string            `json:"name"`
		Arguments map[string]any    `json:"arguments"`
		Status    string            `json:"status"`
		Content   string            `json:"content"`
		Role      string            `json:"role"`
		Bytes     int               `json:"bytes"`
		Reason    string            `json:"reason"`
		Steps     int               `json:"steps"`
		Usage     client.Usage      `json:"usage"`
		Error     *client.ErrorInfo `json:"error"`
	}
	if err := e.Decode(&d); err != nil {
		return false, err
	}
	switch e.Type {
	case "step.started":
		if d.Kind == "llm" && f.stream && f.streamed[d.Step] != 0 && f.streamed[d.Step] != d.Attempt {
			f.notef("the model call was retried (attempt %d); its answer starts over", d.Attempt)
		}
	case "token":
		if f.stream && d.Delta != "" {
			f.streamed[d.Step], f.printed = d.Attempt, true
			fmt.Fprint(f.out, d.Delta)
			f.midLine = !strings.HasSuffix(d.Delta, "\n")
		}
	case "tool.call":
		f.calls[d.CallID] = len(res.ToolCalls)
		res.ToolCalls = append(res.ToolCalls, toolCall{CallID: d.CallID, Name: d.Name, Arguments: d.Arguments})
		f.notef("⚙ %s %s", d.Name, compactJSON(d.Arguments))
	case "tool.result":
		if i, ok := f.calls[d.CallID]; ok {
			res.ToolCalls[i].Status = d.Status
		}
		f.notef("  ↳ %s %s (%d bytes)", d.Name, d.Status, d.Bytes)
	case "approval.required":
		p := pendingApproval{callID: d.CallID, name: d.Name, reason: d.Reason}
		if i, ok := f.calls[d.CallID]; ok {
			p.args = " " + compactJSON(res.ToolCalls[i].Arguments)
		}
		switch f.policy {
		case approveAll:
			f.notef("approving %s (--yes)", d.Name)
			return false, f.decide(ctx, p, true, "", res)
		case denyAll:
			f.notef("denying %s: there is no terminal to ask on (youworker ask --yes approves tool calls)", d.Name)
			return false, f.decide(ctx, p, false, "no one to ask: youworker ask ran without a terminal", res)
		}
		f.pending = append(f.pending, p)
		if len(f.pending) == 1 {
			f.promptNext()
		}
	case "message":
		if d.Role == "" || d.Role == "assistant" {
			res.Answer = d.Content
		}
	case "turn.completed", "turn.failed", "turn.cancelled":
		res.Status, res.Steps, res.Usage, res.Error = d.Status, d.Steps, d.Usage, d.Error
		if res.Status == "" {
			res.Status = strings.TrimPrefix(e.Type, "turn.")
		}
		return true, nil
	}
	return false, nil
}

// promptNext asks about the first pending approval.
func (f *turnFollower) promptNext() {
	if len(f.pending) == 0 {
		return
	}
	p := f.pending[0]
	why := ""
	if p.reason != "" {
		why = " (" + p.reason + ")"
	}
	f.endLine()
	fmt.Fprintf(f.note, "Allow the tool call %s%s%s? [y/N] ", p.name, p.args, why)
}

func (f *turnFollower) decide(ctx context.Context, p pendingApproval, approved bool, reason string, res *turnResult) error {
	err := f.c.Decide(ctx, f.sessionID, f.turnID, p.callID, approved, reason)
	if client.IsStatus(err, http.StatusConflict) {
		f.notef("%s was already decided", p.name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sending the decision on %s: %w", p.name, err)
	}
	if i, ok := f.calls[p.callID]; ok {
		res.ToolCalls[i].Approved = &approved
	}
	return nil
}

// notef writes a line of its own to the note stream (after ending the answer's line).
func (f *turnFollower) notef(format string, args ...any) {
	f.endLine()
	fmt.Fprintf(f.note, format+"\n", args...)
}

func (f *turnFollower) endLine() {
	if f.midLine {
		fmt.Fprintln(f.out)
		f.midLine = false
	}
}

func compactJSON(v any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// readLines sends stdin's lines on a channel, closed at the end of the input.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				ch <- strings.TrimRight(line, "\r\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
