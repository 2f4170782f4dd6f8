package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// finish follows a turn's events to the end and requires that it completed.
func finish(t *testing.T, u *user, events string) []sseEvent {
	t.Helper()
	evs := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	require.NotEmpty(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	return evs
}

// started requires a 202 with a turn and returns its id and events URL.
func started(t *testing.T, r reply) (turnID, eventsURL string) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	m := r.json(t)
	return m["turn_id"].(string), m["events_url"].(string)
}

// sent is what the model was sent in its latest call, one "role: content" a message (system
// messages left out).
func sent(p *platform) []string {
	var out []string
	for _, m := range p.ollama.LastChatMessages() {
		if m.Role != "system" {
			out = append(out, m.Role+": "+strings.TrimSpace(m.Content))
		}
	}
	return out
}

// branchSession is GET /v1/sessions/:id: every message by id, the messages in order, and the
// active branch.
type branchSession struct {
	byID     map[string]map[string]any
	messages []map[string]any
	active   []string
}

func getBranches(t *testing.T, u *user, sid string) branchSession {
	t.Helper()
	r := u.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	body := r.json(t)
	out := branchSession{byID: map[string]map[string]any{}}
	for _, m := range body["messages"].([]any) {
		mm := m.(map[string]any)
		out.byID[mm["id"].(string)] = mm
		out.messages = append(out.messages, mm)
	}
	for _, id := range body["active_branch"].([]any) {
		out.active = append(out.active, id.(string))
	}
	if len(out.active) > 0 {
		require.Equal(t, out.active[len(out.active)-1], body["active_message_id"])
	}
	return out
}

// find returns the id of the one message with this role and content.
func (b branchSession) find(t *testing.T, role, content string) string {
	t.Helper()
	var ids []string
	for _, m := range b.messages {
		if m["role"] == role && strings.TrimSpace(m["content"].(string)) == content {
			ids = append(ids, m["id"].(string))
		}
	}
	require.Len(t, ids, 1, "%s %q", role, content)
	return ids[0]
}

// answers returns the ids of the assistant messages following a message.
func (b branchSession) answers(parent string) []string {
	var ids []string
	for _, m := range b.messages {
		if m["role"] == "assistant" && m["parent_id"] == parent {
			ids = append(ids, m["id"].(string))
		}
	}
	return ids
}

// Regenerating a turn answers the same user message again in a new durable turn: two assistant
// siblings, the new one active; the model sees neither old answer while regenerating, the next
// turn's history holds only the chosen answer, and switching the branch changes which.
func TestRegenerateGivesSiblingsAndTheNextTurnSeesTheChosenOne(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("rita")
	sid := u.newSession([]string{})
	t1, ev := u.send(sid, "first question alpha")
	finish(t, u, ev)
	const a = "You said: first question alpha"

	regen := "/v1/sessions/" + sid + "/turns/" + t1 + "/regenerate"
	t2, ev := started(t, p.request("POST", regen, u.token, nil, map[string]string{"Idempotency-Key": "regen-1"}))
	require.NotEqual(t, t1, t2)
	finish(t, u, ev)
	require.Equal(t, []string{"user: first question alpha"}, sent(p), "the regenerated turn answers the user message alone")
	again := p.request("POST", regen, u.token, nil, map[string]string{"Idempotency-Key": "regen-1"})
	require.Equal(t, http.StatusOK, again.status, "%s", again.body)
	require.Equal(t, t2, again.json(t)["turn_id"], "the same key gives the same turn")
	recordHistory(t, p, again.json(t)["workflow_id"].(string), "chat_turn_regenerated")

	b := getBranches(t, u, sid)
	require.Len(t, b.messages, 3, "the user message once, two answers")
	u1 := b.find(t, "user", "first question alpha")
	siblings := b.answers(u1)
	require.Len(t, siblings, 2, "two assistant siblings")
	a1, a2 := siblings[0], siblings[1] // oldest first
	require.Equal(t, t1, b.byID[a1]["turn_id"])
	require.Equal(t, t2, b.byID[a2]["turn_id"])
	require.Equal(t, []string{u1, a2}, b.active, "the regenerated answer is the active branch")

	_, ev = u.send(sid, "second question beta")
	finish(t, u, ev)
	require.Equal(t, []string{"user: first question alpha", "assistant: " + a, "user: second question beta"}, sent(p),
		"one answer of the two reaches the model")
	b = getBranches(t, u, sid)
	require.Equal(t, a2, b.byID[b.find(t, "user", "second question beta")]["parent_id"], "it follows the active answer")

	// Choose the first answer: the next message continues after it, without beta's branch.
	r := u.do("PUT", "/v1/sessions/"+sid+"/active-branch", map[string]any{"message_id": a1})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, []any{u1, a1}, r.json(t)["active_branch"])
	_, ev = u.send(sid, "third question gamma")
	finish(t, u, ev)
	require.Equal(t, []string{"user: first question alpha", "assistant: " + a, "user: third question gamma"}, sent(p))
	b = getBranches(t, u, sid)
	g := b.find(t, "user", "third question gamma")
	require.Equal(t, a1, b.byID[g]["parent_id"])
	require.Equal(t, []string{u1, a1, g, b.answers(g)[0]}, b.active)
	require.Len(t, b.messages, 7, "every branch stays in the session")

	r = u.do("PUT", "/v1/sessions/"+sid+"/active-branch", map[string]any{"message_id": "7d1e1c4e-2f0e-4a59-9d55-5a5c1a0e9b11"})
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	other := p.signup("mallory")
	r = other.do("POST", regen, nil)
	require.Equal(t, http.StatusNotFound, r.status, "another user's turn is not found")

	// Analytics count every turn, on every branch: the regenerated one too.
	o := u.do("GET", "/v1/analytics/overview?days=1", nil)
	require.Equal(t, http.StatusOK, o.status, "%s", o.body)
	turns := o.json(t)["turns"].(map[string]any)
	require.EqualValues(t, 4, turns["total"])
	require.EqualValues(t, 4, turns["completed"])
}

// Editing a message in the middle of a conversation forks it: the new message follows what the
// edited one followed, the model never sees the edited message or what came after it, and the old
// branch can be chosen again. Regenerate, edit and switching answer 409 while a turn runs.
func TestEditMidConversationForks(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("edna")
	sid := u.newSession([]string{})
	t1, ev := u.send(sid, "alpha one")
	finish(t, u, ev)
	_, ev = u.send(sid, "beta two")
	finish(t, u, ev)
	b := getBranches(t, u, sid)
	u1, u2 := b.find(t, "user", "alpha one"), b.find(t, "user", "beta two")
	a1, a2 := b.answers(u1)[0], b.answers(u2)[0]

	_, ev = started(t, u.do("POST", "/v1/sessions/"+sid+"/messages/"+u2+"/edit", map[string]any{"content": "gamma three"}))
	finish(t, u, ev)
	require.Equal(t, []string{"user: alpha one", "assistant: You said: alpha one", "user: gamma three"}, sent(p),
		"the edited message and its answer never reach the model")
	b = getBranches(t, u, sid)
	g := b.find(t, "user", "gamma three")
	require.Equal(t, a1, b.byID[g]["parent_id"], "a sibling of the edited message")
	require.Equal(t, []string{u1, a1, g, b.answers(g)[0]}, b.active)

	r := u.do("POST", "/v1/sessions/"+sid+"/messages/"+a1+"/edit", map[string]any{"content": "x"})
	require.Equal(t, http.StatusBadRequest, r.status, "only a user message can be edited: %s", r.body)

	// Back to the first version: the next turn sees beta, not gamma.
	r = u.do("PUT", "/v1/sessions/"+sid+"/active-branch", map[string]any{"message_id": a2})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	p.ollama.SetTokenDelay(50 * time.Millisecond)
	_, ev = u.send(sid, "delta four reply-tokens 30")
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/sessions/" + sid + "/turns/" + t1 + "/regenerate", nil},
		{"POST", "/v1/sessions/" + sid + "/messages/" + u1 + "/edit", map[string]any{"content": "meanwhile"}},
		{"PUT", "/v1/sessions/" + sid + "/active-branch", map[string]any{"message_id": a1}},
	} {
		r := u.do(call.method, call.path, call.body)
		require.Equal(t, http.StatusConflict, r.status, "%s %s: %s", call.method, call.path, r.body)
		require.Contains(t, string(r.body), "TURN_IN_PROGRESS")
	}
	finish(t, u, ev)
	require.Equal(t, []string{"user: alpha one", "assistant: You said: alpha one", "user: beta two",
		"assistant: You said: beta two", "user: delta four reply-tokens 30"}, sent(p))

	// Regenerate, like a message, can answer with the new turn's event stream.
	p.ollama.SetTokenDelay(0)
	r = p.request("POST", "/v1/sessions/"+sid+"/turns/"+t1+"/regenerate", u.token, nil, map[string]string{"Accept": "text/event-stream"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "event: turn.completed")
	require.Equal(t, []string{"user: alpha one"}, sent(p))
}

// A worker killed while a regenerated turn streams: another worker retries the model call and
// the turn still yields exactly one new assistant message, a sibling of the first answer.
func TestWorkerKilledDuringRegeneratedTurn(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	worker := p.startWorker()
	p.startAPI()
	u := p.signup("wanda")
	sid := u.newSession([]string{})
	t1, ev := u.send(sid, "reply-tokens 60 please")
	finish(t, u, ev)

	p.ollama.SetTokenDelay(40 * time.Millisecond)
	t2, events := started(t, u.do("POST", "/v1/sessions/"+sid+"/turns/"+t1+"/regenerate", nil))
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	for tokens := 0; tokens < 5; {
		e, ok := <-ch
		require.True(t, ok, "stream ended early: %v", types(evs))
		evs = append(evs, e)
		if e.Type == "token" {
			tokens++
		}
	}
	worker.kill()
	p.startWorker()
	evs = append(evs, collect(t, ch, 60*time.Second)...)
	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	require.Len(t, strings.Fields(evs[len(evs)-2].Data["content"].(string)), 60)

	db := openDB(t, p)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE turn_id = $1 AND role = 'assistant'`, t2).Scan(&n))
	require.Equal(t, 1, n, "exactly one new assistant message")
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE turn_id = $1`, t2).Scan(&n))
	require.Equal(t, 1, n, "and no new user message")
	b := getBranches(t, u, sid)
	u1 := b.find(t, "user", "reply-tokens 60 please")
	require.Len(t, b.answers(u1), 2)
}
