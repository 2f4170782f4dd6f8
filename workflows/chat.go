package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/toolbox"
)

// Error codes a turn can fail with (turn.failed, GET turn).
const (
	CodeStepLimit      = "STEP_LIMIT_EXCEEDED"
	CodeLLMUnavailable = spec.ErrTypeLLMUnavailable
	CodeInternal       = "TURN_FAILED"
)

// TurnLimits bound a turn. They travel in the workflow input so that a running turn keeps the
// limits it started with, whatever the worker's configuration becomes.
type TurnLimits struct {
	MaxSteps        int
	LLMTimeout      time.Duration // one model call, start to close
	LLMHeartbeat    time.Duration // a silent LLM activity is retried elsewhere after this
	LLMMaxAttempts  int32
	ToolTimeout     time.Duration
	ToolHeartbeat   time.Duration // a silent tool activity is retried elsewhere after this (0: no heartbeat timeout, older runs)
	ToolMaxAttempts int32
	ApprovalTimeout time.Duration
	// FinishTimeout bounds the retries of the turn's bookkeeping (local activities writing to
	// Postgres): long, so that an outage of Postgres delays the turn's end instead of losing it
	// (0: one minute, older runs).
	FinishTimeout time.Duration
}

// ChatTurnInput starts a turn. It holds ids only: message content never enters workflow history.
type ChatTurnInput struct {
	TurnID    uuid.UUID
	SessionID uuid.UUID
	UserID    uuid.UUID
	Limits    TurnLimits
	// Options are the model's sampling options for this turn (Ollama's names: temperature,
	// top_p, num_predict, stop, seed), from an OpenAI-compatible request; nil = the model's own.
	Options map[string]any `json:",omitempty"`
	// Shape is the workflow shape the run takes, set by whoever starts it (ChatTurnShape): a run
	// that knows its shape from its input records no version marker and no TemporalChangeVersion
	// upsert (one visibility write less per turn). Zero (runs started before the field existed, or
	// by an older API) asks workflow.GetVersion("context-in-first-llm-call") as those runs did.
	Shape int `json:",omitempty"`
}

// ChatTurnShape is the shape new turns take: version 2 of "context-in-first-llm-call" (the first
// LLM call loads the context, the answering call finishes the turn, tool calls run concurrently).
// A new shape raises it and keeps the older ones in ChatTurn for runs in flight.
const ChatTurnShape = 2

// ChatTurnResult is the outcome of a turn.
type ChatTurnResult struct {
	Status           string
	ErrorCode        string
	Steps            int
	PromptTokens     int
	CompletionTokens int
	MessageID        uuid.UUID
}

// StepInfo is one step as reported by the progress query.
type StepInfo struct {
	Step     int        `json:"step"`
	Kind     string     `json:"kind"` // llm or tool
	Name     string     `json:"name,omitempty"`
	CallID   string     `json:"call_id,omitempty"`
	Status   string     `json:"status"`
	Started  time.Time  `json:"started_at"`
	Finished *time.Time `json:"finished_at,omitempty"`
}

// Progress is the answer of the progress query.
type Progress struct {
	Status           string     `json:"status"`
	CurrentStep      int        `json:"current_step"`
	Steps            []StepInfo `json:"steps"`
	PromptTokens     int        `json:"prompt_tokens"`
	CompletionTokens int        `json:"completion_tokens"`
	PendingApproval  string     `json:"pending_approval,omitempty"`
}

// ApproveSignal is the user's decision on a tool call waiting for approval.
type ApproveSignal struct {
	CallID   string
	Approved bool
	Reason   string
}

// CancelSignal asks the turn to stop.
type CancelSignal struct {
	Reason string
}

type turn struct {
	in        ChatTurnInput
	ref       spec.TurnRef
	progress  Progress
	cancelled bool
	decisions map[string]ApproveSignal
	// messageAnnounced: the LLM activity already announced the final message.
	messageAnnounced bool
	// finished: the LLM activity finished the turn with its answer (LLMResult.Finished); a
	// cancel that arrives later changes nothing.
	finished bool
}

// ChatTurn runs one agent turn: load the context, then alternate model calls and tool calls until
// the model answers without tools, the step cap is reached, the user cancels, or the model stays
// unavailable beyond its retry budget. Every step is idempotent, so a worker dying anywhere in
// the turn costs a retry, never a duplicate message.
func ChatTurn(ctx workflow.Context, in ChatTurnInput) (ChatTurnResult, error) {
	t := &turn{in: in, ref: spec.TurnRef{TurnID: in.TurnID, SessionID: in.SessionID, UserID: in.UserID,
		StartedAt: workflow.GetInfo(ctx).WorkflowStartTime},
		progress: Progress{Status: models.TurnRunning}, decisions: map[string]ApproveSignal{}}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return t.progress, nil }); err != nil {
		return ChatTurnResult{}, err
	}

	// Cancellation: a signal (the API) or cancelling the workflow (the Temporal UI) both cancel the
	// work context; the running activity learns it from its next heartbeat.
	work, cancelWork := workflow.WithCancel(ctx)
	cancelCh := workflow.GetSignalChannel(ctx, SignalCancel)
	approveCh := workflow.GetSignalChannel(ctx, SignalApprove)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			sel := workflow.NewSelector(gctx)
			sel.AddReceive(cancelCh, func(c workflow.ReceiveChannel, _ bool) {
				var s CancelSignal
				c.Receive(gctx, &s)
				t.cancelled = true
				cancelWork()
			})
			sel.AddReceive(approveCh, func(c workflow.ReceiveChannel, _ bool) {
				var s ApproveSignal
				c.Receive(gctx, &s)
				if _, seen := t.decisions[s.CallID]; !seen {
					t.decisions[s.CallID] = s
				}
			})
			sel.AddReceive(gctx.Done(), func(workflow.ReceiveChannel, bool) {})
			sel.Select(gctx)
			if gctx.Err() != nil {
				return
			}
		}
	})

	res, err := t.run(work)
	// Bookkeeping must happen even when the workflow itself was cancelled.
	fin, _ := workflow.NewDisconnectedContext(ctx)
	// Once the answering LLM call finished the turn (t.finished), a later cancel changes nothing.
	if !t.finished && (ctx.Err() != nil || (err != nil && temporal.IsCanceledError(err)) || t.cancelled) {
		res.Status, res.ErrorCode = models.TurnCancelled, ""
		err = nil
	}
	if err != nil {
		res.Status = models.TurnFailed
		if res.ErrorCode == "" {
			res.ErrorCode = CodeInternal
		}
	}
	_, msg := turnFailure.describe(err)
	if res.Status == "" {
		res.Status = models.TurnCompleted
	}
	t.progress.Status = res.Status
	_ = upsertStatus(fin, res.Status)
	if t.finished {
		return res, nil // the answer, the outcome and turn.completed are stored already
	}
	finErr := workflow.ExecuteLocalActivity(t.localOpts(fin), spec.FinishTurn, spec.FinishInput{
		TurnRef: t.ref,
		Outcome: models.TurnOutcome{Status: res.Status, ErrorCode: res.ErrorCode, ErrorMessage: msg, Steps: res.Steps,
			PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens},
		MessageID:        res.MessageID,
		MessageAnnounced: t.messageAnnounced,
	}).Get(fin, nil)
	return res, finErr
}

func (t *turn) run(ctx workflow.Context) (ChatTurnResult, error) {
	var res ChatTurnResult
	lim := t.in.Limits

	// Version 1 loads the turn's context in the first LLM call, so the first workflow task
	// schedules it at once; older runs load it in a local activity first. Version 2 also lets the
	// LLM call that answers finish the turn; older runs finish it in a local activity after. Runs
	// started with a Shape in their input (ChatTurnShape) take it from there and record no marker.
	shape := workflow.Version(t.in.Shape)
	switch {
	case shape == 0:
		shape = workflow.GetVersion(ctx, "context-in-first-llm-call", workflow.DefaultVersion, ChatTurnShape)
	case shape < 0 || shape > ChatTurnShape:
		// Started by a newer API: fail the workflow task (not the turn) until a worker that knows
		// the shape picks it up, as GetVersion does with a version it does not know.
		panic(fmt.Sprintf("ChatTurn: shape %d is unknown to this worker (it knows 1 to %d)", shape, ChatTurnShape))
	}
	contextInLLM, finishInLLM := shape >= 1, shape >= 2
	var lc spec.LoadContextResult
	if !contextInLLM {
		if err := workflow.ExecuteLocalActivity(t.localOpts(ctx), spec.LoadContext, t.ref).Get(ctx, &lc); err != nil {
			return res, err
		}
	}
	llmCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: lim.LLMTimeout,
		HeartbeatTimeout:    lim.LLMHeartbeat,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 10 * time.Second, MaximumAttempts: lim.LLMMaxAttempts,
			NonRetryableErrorTypes: []string{spec.ErrTypeLLMModelNotFound, spec.ErrTypeLLMBadRequest}},
	})
	toolCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: lim.ToolTimeout,
		HeartbeatTimeout:    lim.ToolHeartbeat,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Second, MaximumAttempts: lim.ToolMaxAttempts},
	})

	// Version 1 runs the tool calls of one model message concurrently; runs that started before
	// it keep running them one by one. Runs that load their context in the first LLM call came
	// later still: they always run them concurrently, without recording this version too.
	parallel := contextInLLM || workflow.GetVersion(ctx, "parallel-tool-calls", workflow.DefaultVersion, 1) >= 1

	for step := 1; ; step++ {
		if t.cancelled {
			return res, temporal.NewCanceledError()
		}
		t.progress.CurrentStep = step
		t.startStep(ctx, StepInfo{Step: step, Kind: "llm"})
		var out spec.LLMResult
		err := workflow.ExecuteActivity(llmCtx, spec.Generate, spec.LLMInput{TurnRef: t.ref, Step: step, Model: lc.Model, Tools: lc.Tools, Options: t.in.Options,
			LoadContext: contextInLLM && step == 1, Finish: finishInLLM,
			PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens}).Get(ctx, &out)
		if err != nil {
			t.endStep(ctx, "failed")
			if temporal.IsCanceledError(err) || t.cancelled {
				res.MessageID = partialMessage(t.in.TurnID, step)
				return res, temporal.NewCanceledError()
			}
			res.ErrorCode, _ = turnFailure.describe(err)
			return res, err
		}
		t.endStep(ctx, "succeeded")
		if out.Context != nil {
			lc = *out.Context
		}
		res.Steps = step
		res.PromptTokens += out.PromptTokens
		res.CompletionTokens += out.CompletionTokens
		t.progress.PromptTokens, t.progress.CompletionTokens = res.PromptTokens, res.CompletionTokens
		if len(out.ToolCalls) == 0 {
			res.MessageID, t.messageAnnounced, t.finished = out.MessageID, out.MessageAnnounced, out.Finished
			if out.Finished && out.ErrorCode != "" {
				// The call finished the turn as failed (its budget ran out mid-answer).
				res.Status, res.ErrorCode = models.TurnFailed, out.ErrorCode
			}
			return res, nil
		}
		if step >= lim.MaxSteps {
			res.ErrorCode = CodeStepLimit
			return res, temporal.NewNonRetryableApplicationError("the model still wanted tools after the step cap", CodeStepLimit, nil)
		}
		if err := t.runTools(ctx, toolCtx, step, out.ToolCalls, lc.Tools, parallel, out.Tainted); err != nil {
			return res, err
		}
	}
}

// runTools runs the tool calls of one model message, after approval where a tool needs it;
// concurrently when parallel. Outcomes the model should know about (not allowed, denied, failed
// for good) become the tool's result, not a failed turn. When the conversation the model read was
// tainted (it holds untrusted content), every outbound call needs approval: the taint rule.
func (t *turn) runTools(ctx, toolCtx workflow.Context, step int, calls []spec.ToolCallRef, offered []toolbox.Tool, parallel, tainted bool) error {
	var started []startedCall
	for _, call := range calls {
		i := slices.IndexFunc(offered, func(tl toolbox.Tool) bool { return tl.Name == call.Name })
		if i < 0 {
			if err := t.recordOutcome(ctx, step, call, models.ToolDenied, "tool "+call.Name+" is not available in this session"); err != nil {
				return err
			}
			continue
		}
		offer := offered[i]
		if why := approvalReason(offer, tainted); why != "" {
			approved, reason, err := t.awaitApproval(ctx, step, call, why)
			if err != nil {
				return err
			}
			if !approved {
				if err := t.recordOutcome(ctx, step, call, models.ToolDenied, "the user did not approve this call: "+reason); err != nil {
					return err
				}
				continue
			}
		}
		t.startStep(ctx, StepInfo{Step: step, Kind: "tool", Name: call.Name, CallID: call.CallID})
		sc := startedCall{call: call, future: workflow.ExecuteActivity(toolCtx, spec.CallTool, spec.ToolInput{TurnRef: t.ref, Step: step,
			CallID: call.CallID, Server: offer.Server, Tool: call.Name})}
		if !parallel {
			if err := t.settle(ctx, step, sc); err != nil {
				return err
			}
			continue
		}
		started = append(started, sc)
	}
	for _, sc := range started {
		if err := t.settle(ctx, step, sc); err != nil {
			return err
		}
	}
	return nil
}

type startedCall struct {
	call   spec.ToolCallRef
	future workflow.Future
}

// settle waits for a started tool call and records how it ended.
func (t *turn) settle(ctx workflow.Context, step int, sc startedCall) error {
	var res spec.ToolResult
	err := sc.future.Get(ctx, &res)
	switch {
	case err == nil:
		t.endTool(ctx, sc.call.CallID, res.Status)
		return nil
	case temporal.IsCanceledError(err) || t.cancelled:
		t.endTool(ctx, sc.call.CallID, models.ToolCancelled)
		return temporal.NewCanceledError()
	case temporal.IsTimeoutError(err):
		t.endTool(ctx, sc.call.CallID, models.ToolTimedOut)
		return t.recordOutcome(ctx, step, sc.call, models.ToolTimedOut, "the tool did not answer in time")
	default:
		t.endTool(ctx, sc.call.CallID, models.ToolFailed)
		return t.recordOutcome(ctx, step, sc.call, models.ToolFailed, "the tool failed: "+rootMessage(err))
	}
}

func (t *turn) recordOutcome(ctx workflow.Context, step int, call spec.ToolCallRef, status, text string) error {
	return workflow.ExecuteLocalActivity(t.localOpts(ctx), spec.RecordToolOutcome, spec.ToolOutcome{
		TurnRef: t.ref, Step: step, CallID: call.CallID, Tool: call.Name, Status: status, Text: text}).Get(ctx, nil)
}

// Why a tool call waits for approval (approval.required's reason).
const (
	ApprovalByRule    = "policy"            // the operator's rules or the tool's server ask for it
	ApprovalByTainted = "untrusted_content" // an outbound call after the model read untrusted content
)

// approvalReason says why a call of tool needs the user's approval, "" when it does not.
func approvalReason(tool toolbox.Tool, tainted bool) string {
	switch {
	case tool.RequiresApproval:
		return ApprovalByRule
	case tainted && tool.Outbound:
		return ApprovalByTainted
	}
	return ""
}

// awaitApproval waits durably for the user's decision, the approval timeout or cancellation.
func (t *turn) awaitApproval(ctx workflow.Context, step int, call spec.ToolCallRef, why string) (bool, string, error) {
	timeout := t.in.Limits.ApprovalTimeout
	expires := workflow.Now(ctx).Add(timeout)
	if err := workflow.ExecuteLocalActivity(t.localOpts(ctx), spec.RequestApproval, spec.ApprovalRequest{
		TurnRef: t.ref, Step: step, CallID: call.CallID, Tool: call.Name, ExpiresAt: expires, Reason: why}).Get(ctx, nil); err != nil {
		return false, "", err
	}
	t.progress.Status, t.progress.PendingApproval = models.TurnWaitingApproval, call.CallID
	_ = upsertStatus(ctx, models.TurnWaitingApproval)
	decided, err := workflow.AwaitWithTimeout(ctx, timeout, func() bool {
		_, ok := t.decisions[call.CallID]
		return ok || t.cancelled
	})
	if t.cancelled || (err != nil && temporal.IsCanceledError(err)) {
		return false, "", temporal.NewCanceledError()
	}
	if err != nil {
		return false, "", err
	}
	t.progress.Status, t.progress.PendingApproval = models.TurnRunning, ""
	_ = upsertStatus(ctx, models.TurnRunning)
	if err := workflow.ExecuteLocalActivity(t.localOpts(ctx), spec.Resume, t.ref).Get(ctx, nil); err != nil {
		return false, "", err
	}
	if !decided {
		return false, "no decision before the approval timeout", nil
	}
	d := t.decisions[call.CallID]
	return d.Approved, d.Reason, nil
}

func (t *turn) startStep(ctx workflow.Context, s StepInfo) {
	s.Status, s.Started = "running", workflow.Now(ctx)
	t.progress.Steps = append(t.progress.Steps, s)
}

// endTool closes the progress entry of a tool call (several may run at once).
func (t *turn) endTool(ctx workflow.Context, callID, status string) {
	for i := len(t.progress.Steps) - 1; i >= 0; i-- {
		if t.progress.Steps[i].CallID == callID {
			now := workflow.Now(ctx)
			t.progress.Steps[i].Status, t.progress.Steps[i].Finished = status, &now
			return
		}
	}
}

func (t *turn) endStep(ctx workflow.Context, status string) {
	if n := len(t.progress.Steps); n > 0 {
		now := workflow.Now(ctx)
		t.progress.Steps[n-1].Status, t.progress.Steps[n-1].Finished = status, &now
	}
}

// localOpts are the options of the turn's bookkeeping local activities (bookkeeping).
func (t *turn) localOpts(ctx workflow.Context) workflow.Context {
	return bookkeeping(ctx, t.in.Limits.FinishTimeout)
}

// bookkeeping are the options of local activities that record a workflow's progress in Postgres:
// each attempt is short, and they retry (backing off to 5 s) for retryFor (0: one minute, what
// runs started before it was configurable use), so that while Postgres is down a turn or run
// ends late instead of ending without its outcome recorded.
func bookkeeping(ctx workflow.Context, retryFor time.Duration) workflow.Context {
	if retryFor <= 0 {
		retryFor = time.Minute
	}
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: retryFor,
		StartToCloseTimeout:    15 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second},
	})
}

func upsertStatus(ctx workflow.Context, status string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(AttrStatus).ValueSet(status))
}

// partialMessage is the id the LLM activity stores a cancelled partial answer under.
func partialMessage(turnID uuid.UUID, step int) uuid.UUID {
	return models.MessageID(turnID, models.RoleAssistant, step, "")
}

// turnFailure names a failed turn's error for its user.
var turnFailure = failure{
	timeoutCode: CodeLLMUnavailable, timeoutMessage: "the language model did not answer in time",
	otherCode: CodeInternal, otherMessage: "the turn failed",
	messages: map[string]string{
		CodeStepLimit:              "the model kept calling tools beyond the step limit",
		spec.ErrTypeLLMUnavailable: "the language model is unavailable; your message is kept, please retry later",
	},
}

func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
