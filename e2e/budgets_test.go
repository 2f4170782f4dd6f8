package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// admin signs up a platform administrator.
func (p *platform) admin(name string) *user {
	p.t.Helper()
	a := p.signup(name)
	_, err := openDB(p.t, p).Exec(`UPDATE users SET is_admin = true WHERE username = $1`, name)
	require.NoError(p.t, err)
	return a
}

// setBudget sets a user's budget through the API.
func (a *user) setBudget(t *testing.T, of *user, caps map[string]any) {
	t.Helper()
	r := a.do("PUT", "/v1/budgets/users/"+of.id, caps)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// myBudget is the caller's own budget as GET /v1/budgets/me shows it.
func (u *user) myBudget(t *testing.T) map[string]any {
	t.Helper()
	r := u.do("GET", "/v1/budgets/me", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	list := r.json(t)["budgets"].([]any)
	require.Len(t, list, 1)
	return list[0].(map[string]any)
}

// errorCode is the code of a turn.failed event ("" for others).
func errorCode(e sseEvent) string {
	m, _ := e.Data["error"].(map[string]any)
	code, _ := m["code"].(string)
	return code
}

// A budget that runs out during an answer ends the turn with BUDGET_EXCEEDED and keeps what was
// said; the next turn that cannot pay its prompt fails before the model is called; a budget at
// zero refuses the post itself (429) and stores nothing.
func TestBudgetEndsTheAnswerThenRefusesTurns(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u, admin := p.signup("spender"), p.admin("treasurer")
	admin.setBudget(t, u, map[string]any{"daily_tokens": 80})
	sid := u.newSession([]string{})

	turn, events := u.send(sid, "reply-tokens 200 please")
	evs := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	last := evs[len(evs)-1]
	require.Equal(t, "turn.failed", last.Type, "%v", types(evs))
	require.Equal(t, "BUDGET_EXCEEDED", errorCode(last), "%v", last.Data)
	msg := evs[len(evs)-2]
	require.Equal(t, "message", msg.Type, "%v", types(evs))
	words := len(strings.Fields(msg.Data["content"].(string)))
	require.Greater(t, words, 10, "the partial answer is kept")
	require.Less(t, words, 80)

	db := openDB(t, p)
	var reserved, used, prompt, completion int
	require.NoError(t, db.QueryRow(`SELECT reserved_tokens, used_tokens FROM budget_charges WHERE turn_id = $1`, turn).Scan(&reserved, &used))
	require.NoError(t, db.QueryRow(`SELECT prompt_tokens, completion_tokens FROM turns WHERE id = $1`, turn).Scan(&prompt, &completion))
	require.Equal(t, words, completion)
	require.Equal(t, prompt+completion, used, "the call is charged what Ollama reported")
	require.LessOrEqual(t, used, reserved)
	require.LessOrEqual(t, reserved, 80)
	r := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turn, nil)
	require.Equal(t, "BUDGET_EXCEEDED", r.json(t)["error"].(map[string]any)["code"], "%s", r.body)

	b := u.myBudget(t)
	require.Equal(t, float64(used), b["day"].(map[string]any)["tokens"])
	left := b["remaining"].(map[string]any)["tokens"].(float64)
	require.Equal(t, float64(80-used), left)
	require.Positive(t, left, "some tokens are left, too few for the next prompt")

	// The next turn is accepted (the budget is not at zero) but cannot pay its prompt: it fails
	// before the model is asked.
	calls := p.ollama.Stats().ChatCalls
	_, events = u.send(sid, "and now?")
	evs = collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.failed", evs[len(evs)-1].Type, "%v", types(evs))
	require.Equal(t, "BUDGET_EXCEEDED", errorCode(evs[len(evs)-1]))
	require.Equal(t, calls, p.ollama.Stats().ChatCalls, "the model was not called")

	// At zero, the post itself is refused and nothing is stored.
	admin.setBudget(t, u, map[string]any{"daily_tokens": used})
	var before, after int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE session_id = $1`, sid).Scan(&before))
	r = u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "one more"})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "BUDGET_EXCEEDED")
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE session_id = $1`, sid).Scan(&after))
	require.Equal(t, before, after)

	// Without the budget, turns run again.
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/v1/budgets/users/"+u.id, nil).status)
	_, events = u.send(sid, "reply-tokens 5 please")
	finish(t, u, events)
}

// A worker killed while the model streams: the replacement runs the model again, and the step is
// still charged once, at what the call that finished spent.
func TestBudgetChargedOnceWhenTheWorkerDies(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	worker := p.startWorker()
	p.startAPI()
	u, admin := p.signup("steady"), p.admin("bursar")
	admin.setBudget(t, u, map[string]any{"monthly_tokens": 100000, "monthly_turns": 10})
	sid := u.newSession([]string{})

	p.ollama.SetTokenDelay(40 * time.Millisecond)
	calls := p.ollama.Stats().ChatCalls
	turn, events := u.send(sid, "reply-tokens 60 please")
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	for tokens := 0; tokens < 5; {
		e, ok := <-ch
		require.True(t, ok, "stream ended early")
		if e.Type == "token" {
			tokens++
		}
	}
	worker.kill()
	p.startWorker()
	evs := collect(t, ch, 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	require.Equal(t, calls+2, p.ollama.Stats().ChatCalls, "the model ran twice")

	db := openDB(t, p)
	var rows, used, prompt, completion int
	require.NoError(t, db.QueryRow(`SELECT count(*), sum(used_tokens) FROM budget_charges WHERE turn_id = $1`, turn).Scan(&rows, &used))
	require.NoError(t, db.QueryRow(`SELECT prompt_tokens, completion_tokens FROM turns WHERE id = $1`, turn).Scan(&prompt, &completion))
	require.Equal(t, 1, rows)
	require.Equal(t, 60, completion)
	require.Equal(t, prompt+completion, used)
	month := u.myBudget(t)["month"].(map[string]any)
	require.Equal(t, float64(used), month["tokens"])
	require.Equal(t, 1.0, month["turns"])
}

// Two turns posted at once against a budget of one turn: one runs, the other is refused at the
// post or fails when it tries to reserve; never both.
func TestConcurrentTurnsCannotOverspend(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u, admin := p.signup("racer"), p.admin("steward")
	admin.setBudget(t, u, map[string]any{"daily_turns": 1})
	sessions := []string{u.newSession([]string{}), u.newSession([]string{})}

	var wg sync.WaitGroup
	outcomes := make([]string, 2)
	for i, sid := range sessions {
		wg.Go(func() {
			r := u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "reply-tokens 20 please"})
			if r.status == http.StatusTooManyRequests {
				outcomes[i] = "refused"
				return
			}
			if r.status != http.StatusAccepted {
				outcomes[i] = "status " + string(r.body)
				return
			}
			m := r.json(t)
			evs := collect(t, must(u.stream(context.Background(), m["events_url"].(string), 0)), 60*time.Second)
			last := evs[len(evs)-1]
			outcomes[i] = last.Type
			if code := errorCode(last); code != "" {
				outcomes[i] += " " + code
			}
		})
	}
	wg.Wait()
	require.Contains(t, outcomes, "turn.completed", "%v", outcomes)
	other := outcomes[0]
	if other == "turn.completed" {
		other = outcomes[1]
	}
	require.Contains(t, []string{"refused", "turn.failed BUDGET_EXCEEDED"}, other, "%v", outcomes)
	require.Equal(t, 1.0, u.myBudget(t)["day"].(map[string]any)["turns"])
}
