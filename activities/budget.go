package activities

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"time"

	ollama "github.com/ollama/ollama/api"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// budgetCall is the reservation of a model call under a budget.
type budgetCall struct {
	store.Reservation
	// limit is the num_predict the reservation imposed (0: the budget did not cut the output).
	limit int
}

// cut reports whether the budget's cap, not the model, ended the answer. Nil-safe.
func (b *budgetCall) cut(final ollama.ChatResponse) bool {
	return b != nil && b.limit > 0 && final.DoneReason == "length" && final.EvalCount >= b.limit
}

// reserve takes what the call may spend from the budgets of the turn's user and group before the
// model runs, keyed by (turn, step): a retry finds its reservation instead of charging again. The
// call may spend its estimated prompt and its output (num_predict, else BudgetOutput, which then
// becomes its num_predict); when less is left, num_predict is lowered to what is left after the
// prompt. A budget that cannot pay the
// prompt and one token fails the call with BUDGET_EXCEEDED, for good.
func (a *LLM) reserve(ctx context.Context, in LLMInput, setting *store.TurnSetting, req *ollama.ChatRequest) (*budgetCall, error) {
	prompt := estimatePrompt(req)
	output := a.BudgetOutput
	if n := numPredict(req.Options); n > 0 {
		output = n
	}
	r, err := a.Store.ReserveBudget(ctx, store.BudgetCharge{TurnID: in.TurnID, Step: in.Step, UserID: in.UserID, GroupID: setting.GroupID,
		Want: prompt + output, Min: prompt + 1, At: time.Now()})
	var spent *models.Error
	if store.IsBudgetExceeded(err) && errors.As(err, &spent) {
		return nil, temporal.NewNonRetryableApplicationError(spent.Message, models.CodeBudgetExceeded, nil)
	}
	if err != nil || !r.Budgeted {
		return nil, err
	}
	// num_predict is set whenever the call is under a budget: the output may not pass what was
	// reserved for it. When the budget's rest, not the output reserve, is the bound, reaching it
	// is the budget running out (cut).
	b := &budgetCall{Reservation: r}
	limit := max(r.Tokens-prompt, 1)
	if r.Capped {
		b.limit = int(limit)
	}
	if r.Capped || numPredict(req.Options) <= 0 {
		opts := maps.Clone(req.Options)
		if opts == nil {
			opts = map[string]any{}
		}
		opts["num_predict"] = int(limit)
		req.Options = opts
	}
	return b, nil
}

// estimatePrompt over-estimates the prompt tokens of req: a token per four bytes of what is sent
// (texts, tool calls, the tools' schemas), four per message for the chat template, and 768 per
// image. Tokenizers average about four bytes a token on English text and JSON carries its
// punctuation, so the estimate is rarely below what Ollama then reports.
func estimatePrompt(req *ollama.ChatRequest) int64 {
	var n int64
	for _, m := range req.Messages {
		n += int64(len(m.Content)+len(m.Thinking)) + 16 + 768*4*int64(len(m.Images))
		for _, c := range m.ToolCalls {
			b, _ := json.Marshal(c.Function)
			n += int64(len(b))
		}
	}
	if len(req.Tools) > 0 {
		b, _ := json.Marshal(req.Tools)
		n += int64(len(b))
	}
	return (n + 3) / 4
}

// numPredict reads options.num_predict (an int, or a float64 after a JSON round trip); 0 when unset.
func numPredict(opts map[string]any) int64 {
	switch v := opts["num_predict"].(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}
