package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/toolbox"
)

var (
	turns *activities.Turns
	llm   *activities.LLM
	tools *activities.Tools
)

func testInput() ChatTurnInput {
	return ChatTurnInput{TurnID: uuid.New(), SessionID: uuid.New(), UserID: uuid.New(), Limits: TurnLimits{
		MaxSteps: 3, LLMTimeout: time.Minute, LLMHeartbeat: 10 * time.Second, LLMMaxAttempts: 3,
		ToolTimeout: time.Minute, ToolMaxAttempts: 2, ApprovalTimeout: 10 * time.Minute,
	}}
}

// recorded is a test turn's session tools (offered, as the first LLM call reports them) and what
// the turn left behind: the input of its FinishTurn local activity (zero if none ran) and the
// statuses it showed operators, in order.
type recorded struct {
	activities.FinishInput
	offered  []toolbox.Tool
	statuses []string
}

// newEnv registers the workflow with every activity mocked at the boundary, for a session that
// offers the tools tl; the fixture it returns records what the workflow did.
func newEnv(t *testing.T, tl []toolbox.Tool) (*testsuite.TestWorkflowEnvironment, *recorded) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ChatTurn)
	env.RegisterActivity(turns)
	env.RegisterActivity(llm)
	env.RegisterActivity(tools)
	rec := &recorded{offered: tl}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(temporal.NewSearchAttributeKeyKeyword(AttrStatus)); ok {
			rec.statuses = append(rec.statuses, v)
		}
	}).Return(nil).Maybe()
	env.OnActivity(turns.FinishTurn, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) error {
		rec.FinishInput = in
		return nil
	})
	return env, rec
}

// loaded is the context the first LLM call of a turn loads (LLMInput.LoadContext).
func (r *recorded) loaded() *activities.LoadContextResult {
	return &activities.LoadContextResult{Model: "m", Tools: r.offered}
}

func (r *recorded) answer() activities.LLMResult {
	return activities.LLMResult{MessageID: uuid.New(), PromptTokens: 10, CompletionTokens: 5, Context: r.loaded(), MessageAnnounced: true}
}

func (r *recorded) toolCall(step int, name string) activities.LLMResult {
	return activities.LLMResult{MessageID: uuid.New(), ToolCalls: []activities.ToolCallRef{{CallID: "c" + string(rune('0'+step)), Name: name}},
		PromptTokens: 10, CompletionTokens: 2, Context: r.loaded()}
}

// toolThenAnswer mocks the model and the tool: step 1 calls time_now (which succeeds), step 2
// answers with answer(its input). It returns the inputs of the model calls, in order.
func (r *recorded) toolThenAnswer(env *testsuite.TestWorkflowEnvironment, answer func(activities.LLMInput) activities.LLMResult) *[]activities.LLMInput {
	var inputs []activities.LLMInput
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LLMInput) (activities.LLMResult, error) {
		inputs = append(inputs, in)
		if in.Step == 1 {
			return r.toolCall(1, "time_now"), nil
		}
		return answer(in), nil
	}).Times(2)
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Once()
	return &inputs
}

var timeNow = toolbox.Tool{Name: "time_now", Server: "datetime"}

func TestCompletesWithoutTools(t *testing.T) {
	env, fin := newEnv(t, nil)
	a := fin.answer()
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(a, nil).Once()
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	require.Equal(t, a.MessageID, fin.MessageID)
	require.Equal(t, 1, fin.Outcome.Steps)
	require.Equal(t, 10, fin.Outcome.PromptTokens)
}

// The first model call loads the turn's context (no local activity runs before it); later calls
// get the model and tools it found.
func TestFirstLLMCallLoadsTheContext(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	inputs := fin.toolThenAnswer(env, func(activities.LLMInput) activities.LLMResult {
		return activities.LLMResult{MessageID: uuid.New(), MessageAnnounced: true}
	})
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	require.Len(t, *inputs, 2)
	in := *inputs
	require.True(t, in[0].LoadContext)
	require.Empty(t, in[0].Model)
	require.False(t, in[1].LoadContext)
	require.Equal(t, "m", in[1].Model)
	require.Len(t, in[1].Tools, 1)
	require.Equal(t, timeNow.Name, in[1].Tools[0].Name)
	require.True(t, fin.MessageAnnounced, "the answer went out with the LLM call; finishing need not read it back")
	env.AssertNotCalled(t, "LoadContext", mock.Anything, mock.Anything)
	env.AssertExpectations(t)
}

// The LLM call that answers finishes the turn itself (it learns the turn's usage so far); the
// workflow then runs no FinishTurn and only shows operators the status.
func TestTheAnsweringLLMCallFinishesTheTurn(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	inputs := fin.toolThenAnswer(env, func(in activities.LLMInput) activities.LLMResult {
		a := fin.answer()
		a.Finished = in.Finish
		return a
	})
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	var res ChatTurnResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, models.TurnCompleted, res.Status)
	require.Len(t, *inputs, 2)
	in := *inputs
	require.True(t, in[0].Finish && in[1].Finish, "every LLM call may end the turn")
	require.Equal(t, 0, in[0].PromptTokens)
	require.Equal(t, 10, in[1].PromptTokens, "step 2 learns the usage of step 1")
	require.Equal(t, 2, in[1].CompletionTokens)
	require.Empty(t, fin.Outcome.Status, "nothing is left for a FinishTurn local activity to write")
	env.AssertNotCalled(t, "FinishTurn", mock.Anything, mock.Anything)
	require.Equal(t, []string{models.TurnCompleted}, fin.statuses, "operators still see the status")
}

func TestToolThenAnswer(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(fin.toolCall(1, "time_now"), nil).Once()
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil).Once()
	env.OnActivity(tools.CallTool, mock.Anything, mock.MatchedBy(func(in activities.ToolInput) bool {
		return in.Tool == "time_now" && in.Server == "datetime" && in.Step == 1
	})).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Once()
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	require.Equal(t, 2, fin.Outcome.Steps)
	require.Equal(t, 20, fin.Outcome.PromptTokens)
	env.AssertExpectations(t)
}

func TestStepCap(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LLMInput) (activities.LLMResult, error) {
		return fin.toolCall(in.Step, "time_now"), nil
	}).Times(3)
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Times(2)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError(), "a failed turn is a result, not a failed workflow")
	require.Equal(t, models.TurnFailed, fin.Outcome.Status)
	require.Equal(t, CodeStepLimit, fin.Outcome.ErrorCode)
	env.AssertExpectations(t)
}

func TestToolNotOfferedIsDeniedNotRun(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(fin.toolCall(1, "delete_everything"), nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
	var outcome activities.ToolOutcome
	env.OnActivity(turns.RecordToolOutcome, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolOutcome) error {
		outcome = in
		return nil
	}).Once()
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	require.Equal(t, models.ToolDenied, outcome.Status)
	require.Equal(t, "delete_everything", outcome.Tool)
	env.AssertNotCalled(t, "CallTool", mock.Anything, mock.Anything)
}

func TestLLMUnavailable(t *testing.T) {
	env, fin := newEnv(t, nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(activities.LLMResult{},
		temporal.NewApplicationError("down", activities.ErrTypeLLMUnavailable)).Times(3)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnFailed, fin.Outcome.Status)
	require.Equal(t, CodeLLMUnavailable, fin.Outcome.ErrorCode)
	env.AssertExpectations(t) // retried up to LLMMaxAttempts
}

func TestModelNotFoundIsNotRetried(t *testing.T) {
	env, fin := newEnv(t, nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(activities.LLMResult{},
		temporal.NewNonRetryableApplicationError("no such model", activities.ErrTypeLLMModelNotFound, nil)).Once()
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.Equal(t, models.TurnFailed, fin.Outcome.Status)
	require.Equal(t, activities.ErrTypeLLMModelNotFound, fin.Outcome.ErrorCode)
	env.AssertExpectations(t)
}

// A budget spent before a model call fails the turn once, with BUDGET_EXCEEDED; the steps before
// it (a tool call and its result) stay.
func TestBudgetSpentBeforeACallFailsTheTurn(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Once()
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LLMInput) (activities.LLMResult, error) {
		if in.Step == 1 {
			return fin.toolCall(1, "time_now"), nil
		}
		return activities.LLMResult{}, temporal.NewNonRetryableApplicationError("your token budget is spent", models.CodeBudgetExceeded, nil)
	}).Times(2)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	var res ChatTurnResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, models.TurnFailed, res.Status)
	require.Equal(t, models.TurnFailed, fin.Outcome.Status)
	require.Equal(t, models.CodeBudgetExceeded, fin.Outcome.ErrorCode)
	require.Equal(t, "your token budget is spent", fin.Outcome.ErrorMessage)
	require.Equal(t, 1, fin.Outcome.Steps, "the step that ran is kept")
	env.AssertExpectations(t) // not retried
}

// A budget that ran out during the answer: the LLM call stored the partial answer and finished
// the turn as failed; the workflow reports that outcome and writes nothing more.
func TestBudgetCutAnswerFinishesTheTurnFailed(t *testing.T) {
	env, fin := newEnv(t, nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LLMInput) (activities.LLMResult, error) {
		a := fin.answer()
		a.Finished, a.ErrorCode, a.DoneReason = in.Finish, models.CodeBudgetExceeded, "length"
		return a, nil
	}).Once()
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	var res ChatTurnResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, models.TurnFailed, res.Status)
	require.Equal(t, models.CodeBudgetExceeded, res.ErrorCode)
	env.AssertNotCalled(t, "FinishTurn", mock.Anything, mock.Anything)
	require.Equal(t, []string{models.TurnFailed}, fin.statuses, "operators see the turn failed")
}

func TestCancelSignalStopsTheModelCall(t *testing.T) {
	env, fin := newEnv(t, nil)
	started := make(chan struct{})
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ activities.LLMInput) (activities.LLMResult, error) {
		close(started)
		<-ctx.Done()
		return activities.LLMResult{}, ctx.Err()
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCancel, CancelSignal{}) }, time.Second)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCancelled, fin.Outcome.Status)
	require.NotEqual(t, uuid.Nil, fin.MessageID, "the partial answer's id is handed to FinishTurn")
}

func TestApprovalApproved(t *testing.T) {
	tl := timeNow
	tl.RequiresApproval = true
	env, fin := newEnv(t, []toolbox.Tool{tl})
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(fin.toolCall(1, "time_now"), nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
	env.OnActivity(turns.RequestApproval, mock.Anything, mock.Anything).Return(nil).Once()
	env.OnActivity(turns.Resume, mock.Anything, mock.Anything).Return(nil).Once()
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Once()
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		var p Progress
		require.NoError(t, v.Get(&p))
		require.Equal(t, models.TurnWaitingApproval, p.Status)
		require.Equal(t, "c1", p.PendingApproval)
		env.SignalWorkflow(SignalApprove, ApproveSignal{CallID: "someone-else", Approved: true})
		env.SignalWorkflow(SignalApprove, ApproveSignal{CallID: "c1", Approved: true})
	}, time.Minute)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	env.AssertExpectations(t)
}

func TestApprovalTimesOutAsDenied(t *testing.T) {
	tl := timeNow
	tl.RequiresApproval = true
	env, fin := newEnv(t, []toolbox.Tool{tl})
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(fin.toolCall(1, "time_now"), nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
	env.OnActivity(turns.RequestApproval, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(turns.Resume, mock.Anything, mock.Anything).Return(nil)
	var outcome activities.ToolOutcome
	env.OnActivity(turns.RecordToolOutcome, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolOutcome) error {
		outcome = in
		return nil
	})
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	require.Equal(t, models.ToolDenied, outcome.Status)
	require.Contains(t, outcome.Text, "approval timeout")
	env.AssertNotCalled(t, "CallTool", mock.Anything, mock.Anything)
}

func TestToolFailureBecomesAResult(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(fin.toolCall(1, "time_now"), nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{}, errors.New("connection refused")).Times(2)
	var outcome activities.ToolOutcome
	env.OnActivity(turns.RecordToolOutcome, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolOutcome) error {
		outcome = in
		return nil
	})
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status, "the model is told; the turn goes on")
	require.Equal(t, models.ToolFailed, outcome.Status)
	env.AssertExpectations(t)
}

func TestToolCallsOfOneMessageRunConcurrently(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow, {Name: "time_format", Server: "datetime"}})
	two := activities.LLMResult{MessageID: uuid.New(), ToolCalls: []activities.ToolCallRef{{CallID: "a", Name: "time_now"}, {CallID: "b", Name: "time_format"}},
		Context: fin.loaded()}
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(two, nil)
	env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
	arrived := make(chan string, 2)
	env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolInput) (activities.ToolResult, error) {
		arrived <- in.CallID
		// Each call waits until both have started: run one after the other, they would never finish.
		deadline := time.After(5 * time.Second)
		for len(arrived) < 2 {
			select {
			case <-deadline:
				return activities.ToolResult{}, errors.New("the other call never started")
			case <-time.After(time.Millisecond):
			}
		}
		return activities.ToolResult{Status: models.ToolSucceeded}, nil
	}).Times(2)
	env.ExecuteWorkflow(ChatTurn, testInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
	env.AssertExpectations(t)
}

var fetchURL = toolbox.Tool{Name: "fetch_url", Server: "web", Outbound: true, Untrusted: true}

// The taint rule: an outbound tool the operator auto-approved (RequiresApproval false) still waits
// for the user once the conversation the model read holds untrusted content, and the approval
// says why; a closed-world tool does not.
func TestTaintedConversationNeedsApprovalForOutboundCalls(t *testing.T) {
	for _, c := range []struct {
		name    string
		tool    toolbox.Tool
		tainted bool
		reason  string // "" = no approval asked
	}{
		{"outbound after untrusted content", fetchURL, true, ApprovalByTainted},
		{"outbound in a clean conversation", fetchURL, false, ""},
		{"closed-world tool after untrusted content", timeNow, true, ""},
		{"a tool the rules ask approval for", toolbox.Tool{Name: "time_now", Server: "datetime", RequiresApproval: true}, false, ApprovalByRule},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, fin := newEnv(t, []toolbox.Tool{c.tool})
			call := fin.toolCall(1, c.tool.Name)
			call.Tainted = c.tainted
			env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 1 })).Return(call, nil)
			env.OnActivity(llm.Generate, mock.Anything, mock.MatchedBy(func(in activities.LLMInput) bool { return in.Step == 2 })).Return(fin.answer(), nil)
			var asked []activities.ApprovalRequest
			env.OnActivity(turns.RequestApproval, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ApprovalRequest) error {
				asked = append(asked, in)
				return nil
			}).Maybe()
			env.OnActivity(turns.Resume, mock.Anything, mock.Anything).Return(nil).Maybe()
			env.OnActivity(turns.RecordToolOutcome, mock.Anything, mock.Anything).Return(nil).Maybe()
			env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolResult{Status: models.ToolSucceeded}, nil).Maybe()
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(SignalApprove, ApproveSignal{CallID: "c1", Approved: false, Reason: "no"})
			}, time.Minute)
			env.ExecuteWorkflow(ChatTurn, testInput())
			require.NoError(t, env.GetWorkflowError())
			require.Equal(t, models.TurnCompleted, fin.Outcome.Status)
			if c.reason == "" {
				require.Empty(t, asked)
				env.AssertCalled(t, "CallTool", mock.Anything, mock.Anything)
				return
			}
			require.Len(t, asked, 1)
			require.Equal(t, c.reason, asked[0].Reason)
			env.AssertNotCalled(t, "CallTool", mock.Anything, mock.Anything)
		})
	}
}

// Tool calls heartbeat: a tool activity whose worker died is retried after the turn's tool
// heartbeat timeout, not after the whole tool timeout.
func TestToolCallsHaveAHeartbeatTimeout(t *testing.T) {
	env, fin := newEnv(t, []toolbox.Tool{timeNow})
	in := testInput()
	in.Limits.ToolHeartbeat = 3 * time.Second
	fin.toolThenAnswer(env, func(activities.LLMInput) activities.LLMResult { return fin.answer() })
	var heartbeat time.Duration
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "CallTool" {
			heartbeat = info.HeartbeatTimeout
		}
	})
	env.ExecuteWorkflow(ChatTurn, in)
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 3*time.Second, heartbeat)
}

// The turn's bookkeeping outlasts a Postgres outage: FinishTurn keeps retrying for the turn's
// FinishTimeout (here an outage of 70 s against the one minute it used to give up after).
func TestBookkeepingRetriesThroughAnOutage(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ChatTurn)
	env.RegisterActivity(turns)
	env.RegisterActivity(llm)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Maybe()
	in := testInput()
	in.Limits.FinishTimeout = 10 * time.Minute
	env.OnActivity(llm.Generate, mock.Anything, mock.Anything).Return(activities.LLMResult{}, temporal.NewNonRetryableApplicationError("no", activities.ErrTypeLLMBadRequest, nil)).Once()
	down := 70 * time.Second
	var first time.Time
	var calls int
	env.OnActivity(turns.FinishTurn, mock.Anything, mock.Anything).Return(func(context.Context, activities.FinishInput) error {
		calls++
		if first.IsZero() {
			first = env.Now()
		}
		if env.Now().Sub(first) < down {
			return errors.New("connection refused")
		}
		return nil
	})
	env.ExecuteWorkflow(ChatTurn, in)
	require.NoError(t, env.GetWorkflowError(), "the outcome was recorded once Postgres was back")
	require.Greater(t, calls, 2)
}
