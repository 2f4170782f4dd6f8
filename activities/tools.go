package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// ErrTypeToolRejected marks a tool call the server refused outright.
const ErrTypeToolRejected = spec.ErrTypeToolRejected

// Tools calls MCP tools for the agent.
type Tools struct {
	Catalog *toolbox.Catalog
	Remote  *Remote
	Store   *store.Store
	Box     *encryption.Box
	// HeartbeatEvery is how often a running call heartbeats, so that a dead worker is noticed
	// within the workflow's tool heartbeat timeout and a cancel reaches the call.
	HeartbeatEvery time.Duration
	// Metrics records each call's outcome and latency (nil: none).
	Metrics *metrics.Worker
}

// ToolCallKey is the idempotency key sent with a tool call (toolbox.IdempotencyKeyMeta): the
// same for every attempt of the call, different for every call.
func ToolCallKey(turnID uuid.UUID, callID string) string {
	return "turn/" + turnID.String() + "/call/" + callID
}

type ToolInput = spec.ToolInput

type ToolResult = spec.ToolResult

// CallTool runs one tool call. The caller's identity (user and current groups, read now) goes to
// the server out of band; the model cannot set it. A tool-level error is a result the model sees
// (status failed); transport failures return an error so Temporal retries. Idempotent: a call
// whose result is stored is not run again.
func (a *Tools) CallTool(ctx context.Context, in ToolInput) (ToolResult, error) {
	msgID := models.MessageID(in.TurnID, models.RoleTool, in.Step, in.CallID)
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
	// In a group session every member reads what a tool returns, so tools that read the user's
	// data may only read what every member may: the group's (toolbox.Identity.GroupScope).
	scope, err := a.Store.SessionGroup(ctx, in.SessionID)
	if err != nil {
		return ToolResult{}, err
	}
	attempt := activity.GetInfo(ctx).Attempt
	started := time.Now()
	log := eventLog{store: a.Store, box: a.Box}
	if err := a.Store.PutToolRun(ctx, &models.ToolRun{TurnID: in.TurnID, SessionID: in.SessionID, UserID: in.UserID,
		Step: in.Step, CallID: in.CallID, ServerName: in.Server, ToolName: in.Tool, Status: models.ToolRunning, StartedAt: started.UTC()}); err != nil {
		return ToolResult{}, err
	}
	if err := log.emit(ctx, in.TurnID, event{key: fmt.Sprintf("tool:%s:%d:start", in.CallID, attempt), typ: models.EventStepStarted, data: map[string]any{
		"step": in.Step, "kind": "tool", "call_id": in.CallID, "name": in.Tool, "server": in.Server, "attempt": attempt,
	}}); err != nil {
		return ToolResult{}, err
	}
	stopBeat := keepAlive(ctx, a.HeartbeatEvery, func(time.Time) { activity.RecordHeartbeat(ctx) })
	callCtx := toolbox.WithIdempotencyKey(ctx, ToolCallKey(in.TurnID, in.CallID))
	var res toolbox.Result
	if strings.HasPrefix(in.Server, RemotePrefix) && a.Remote != nil {
		res, err = a.Remote.Call(callCtx, caller, in.Server, in.Tool, call.Arguments)
	} else {
		res, err = a.Catalog.Call(callCtx, in.Server, in.Tool, call.Arguments,
			toolbox.Identity{UserID: in.UserID, GroupIDs: caller.GroupIDs(), TurnID: in.TurnID, GroupScope: scope})
	}
	stopBeat()
	tool := metricTool(in.Server, in.Tool)
	if errors.Is(err, toolbox.ErrRejected) || errors.Is(err, toolbox.ErrUnknownServer) {
		// The server refused the request itself (unknown tool, bad arguments): retrying cannot help.
		a.Metrics.ToolCall(tool, "rejected", time.Since(started))
		return ToolResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeToolRejected, err)
	}
	if err != nil {
		a.Metrics.ToolCall(tool, "error", time.Since(started))
		return ToolResult{}, fmt.Errorf("tool %s on %s: %w", in.Tool, in.Server, err)
	}
	status := models.ToolSucceeded
	if res.IsError {
		status = models.ToolFailed
	}
	a.Metrics.ToolCall(tool, status, time.Since(started))
	if err := persistToolResult(ctx, a.Store, a.Box, in.TurnRef, in.Step, call, status, res.Text, res.Bytes, res.Truncated, started, attempt); err != nil {
		return ToolResult{}, err
	}
	return ToolResult{Status: status, Bytes: res.Bytes, Truncated: res.Truncated}, nil
}

// metricTool is a tool's label in the metrics: server/tool for the platform's servers, "remote"
// for those users registered (their names are the users' to choose, which would make the label
// set unbounded).
func metricTool(server, tool string) string {
	if strings.HasPrefix(server, RemotePrefix) {
		return "remote"
	}
	return server + "/" + tool
}

// keepAlive calls tick every interval until stopped (stop may be called more than once) or ctx
// ends. Activities heartbeat from it, so that Temporal notices a dead worker within the activity's
// heartbeat timeout and a cancel reaches ctx; the SDK throttles what it sends to the worker's
// heartbeat throttle interval.
func keepAlive(ctx context.Context, every time.Duration, tick func(now time.Time)) (stop func()) {
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				tick(now)
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
