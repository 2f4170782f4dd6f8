package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// ErrTypeToolRejected marks a tool call the server refused outright.
const ErrTypeToolRejected = "TOOL_REJECTED"

// Tools calls MCP tools for the agent.
type Tools struct {
	Catalog *toolbox.Catalog
	Remote  *Remote
	Store   *store.Store
	Box     *encryption.Box
}

// ToolInput is one tool call of a turn. The arguments are read from the stored assistant message.
type ToolInput struct {
	TurnRef
	Step   int
	CallID string
	Server string
	Tool   string
}

// ToolResult is the outcome of a call; its content stays in Postgres (encrypted).
type ToolResult struct {
	Status    string
	Bytes     int
	Truncated bool
}

// CallTool runs one tool call. The caller's identity (user and current groups, read now) goes to
// the server out of band; the model cannot set it. A tool-level error is a result the model sees
// (status failed); transport failures return an error so Temporal retries. Idempotent: a call
// whose result is stored is not run again.
func (a *Tools) CallTool(ctx context.Context, in ToolInput) (ToolResult, error) {
	msgID := store.MessageID(in.TurnID, models.RoleTool, in.Step, in.CallID)
	if _, err := a.Store.MessageByID(ctx, msgID); err == nil {
		return ToolResult{Status: models.ToolSucceeded}, nil
	} else if !errors.Is(err, models.ErrNotFound) {
		return ToolResult{}, err
	}
	call, err := loadCall(ctx, a.Store, a.Box, in.TurnID, in.Step, in.CallID)
	if err != nil {
		return ToolResult{}, err
	}
	groups, err := a.Store.Memberships(ctx, in.UserID)
	if err != nil {
		return ToolResult{}, err
	}
	caller := models.Caller{UserID: in.UserID, Groups: groups}
	attempt := activity.GetInfo(ctx).Attempt
	started := time.Now()
	log := eventLog{store: a.Store, box: a.Box}
	if err := a.Store.PutToolRun(ctx, &models.ToolRun{TurnID: in.TurnID, SessionID: in.SessionID, UserID: in.UserID,
		Step: in.Step, CallID: in.CallID, ServerName: in.Server, ToolName: in.Tool, Status: models.ToolRunning, StartedAt: started.UTC()}); err != nil {
		return ToolResult{}, err
	}
	if err := log.emit(ctx, in.TurnID, event{key: fmt.Sprintf("tool:%s:%d:start", in.CallID, attempt), typ: EventStepStarted, data: map[string]any{
		"step": in.Step, "kind": "tool", "call_id": in.CallID, "name": in.Tool, "server": in.Server, "attempt": attempt,
	}}); err != nil {
		return ToolResult{}, err
	}
	var res toolbox.Result
	if strings.HasPrefix(in.Server, RemotePrefix) && a.Remote != nil {
		res, err = a.Remote.Call(ctx, caller, in.Server, in.Tool, call.Arguments)
	} else {
		res, err = a.Catalog.Call(ctx, in.Server, in.Tool, call.Arguments,
			toolbox.Identity{UserID: in.UserID, GroupIDs: caller.GroupIDs(), TurnID: in.TurnID})
	}
	if errors.Is(err, toolbox.ErrRejected) || errors.Is(err, toolbox.ErrUnknownServer) {
		// The server refused the request itself (unknown tool, bad arguments): retrying cannot help.
		return ToolResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeToolRejected, err)
	}
	if err != nil {
		return ToolResult{}, fmt.Errorf("tool %s on %s: %w", in.Tool, in.Server, err)
	}
	status := models.ToolSucceeded
	if res.IsError {
		status = models.ToolFailed
	}
	if err := persistToolResult(ctx, a.Store, a.Box, in.TurnRef, in.Step, call, status, res.Text, res.Bytes, res.Truncated, started, attempt); err != nil {
		return ToolResult{}, err
	}
	return ToolResult{Status: status, Bytes: res.Bytes, Truncated: res.Truncated}, nil
}
