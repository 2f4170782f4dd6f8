package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// openAIErr checks OpenAI's error shape ({"error": {"message", "type", "param", "code"}} and
// nothing else) and returns the error object.
func (r response) openAIErr(t *testing.T) map[string]any {
	t.Helper()
	body := r.JSON(t)
	require.Len(t, body, 1, "%s", r.Body)
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "not an error: %s", r.Body)
	require.Len(t, e, 4, "%s", r.Body)
	for _, k := range []string{"message", "type", "param", "code"} {
		require.Contains(t, e, k)
	}
	require.NotEmpty(t, e["message"])
	require.NotEmpty(t, r.Header.Get("X-Request-ID"))
	return e
}

// The OpenAI-compatible routes answer every error in OpenAI's shape, whether a middleware
// (authentication, rate limit, body cap, method) or the handler refused the request; the rest
// of the API keeps its own envelope.
func TestOpenAIRoutesAnswerErrorsInOpenAIShape(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.RateLimits, c.RateTurnsPerMin = true, 3
		c.MaxBodyBytes, c.ImageMaxCount = 4096, 0
	})
	e.srv.models = fakeModels{}
	anon := e.client()
	cl, _ := e.signup("olga")
	hi := map[string]any{"messages": []map[string]any{{"role": "user", "content": "hi"}}}

	tests := []struct {
		name        string
		client      *apiClient
		method      string
		path        string
		body        any
		headers     []string
		status      int
		typ, code   string
		param       any
		messagePart string
	}{
		{name: "no credential", client: anon, method: "POST", path: "/v1/chat/completions", body: hi,
			status: 401, typ: "authentication_error", code: "unauthenticated"},
		{name: "bad API key", client: anon, method: "POST", path: "/v1/chat/completions", body: hi,
			headers: []string{"Authorization", "Bearer yw_" + strings.Repeat("0", 32) + "_" + strings.Repeat("a", 64)},
			status:  401, typ: "authentication_error", code: "invalid_api_key"},
		{name: "bad API key on the model list", client: anon, method: "GET", path: "/v1/models",
			headers: []string{"Authorization", "Bearer yw_nonsense"}, status: 401, typ: "authentication_error", code: "invalid_api_key"},
		{name: "anonymous model lookup", client: anon, method: "GET", path: "/v1/models/llama3.1:8b",
			status: 401, typ: "authentication_error", code: "unauthenticated"},
		{name: "wrong method", client: cl, method: "GET", path: "/v1/chat/completions",
			status: 405, typ: "invalid_request_error", code: "method_not_allowed"},
		{name: "malformed JSON", client: cl, method: "POST", path: "/v1/chat/completions", body: `{"messages": [`,
			status: 400, typ: "invalid_request_error", code: "malformed_json"},
		{name: "unknown field names the param", client: cl, method: "POST", path: "/v1/chat/completions",
			body:   map[string]any{"messages": hi["messages"], "best_of": 2},
			status: 400, typ: "invalid_request_error", code: "validation_error", param: "best_of"},
		{name: "validation names the param", client: cl, method: "POST", path: "/v1/chat/completions",
			body:   map[string]any{"messages": hi["messages"], "temperature": 5},
			status: 400, typ: "invalid_request_error", code: "validation_error", param: "temperature"},
		{name: "body over the cap", client: cl, method: "POST", path: "/v1/chat/completions",
			body:   map[string]any{"messages": []map[string]any{{"role": "user", "content": strings.Repeat("x", 5000)}}},
			status: 413, typ: "invalid_request_error", code: "request_too_large"},
	}
	for _, tt := range tests {
		r := tt.client.do(tt.method, tt.path, tt.body, tt.headers...)
		require.Equal(t, tt.status, r.Status, "%s: %s", tt.name, r.Body)
		oe := r.openAIErr(t)
		require.Equal(t, tt.typ, oe["type"], tt.name)
		require.Equal(t, tt.code, oe["code"], tt.name)
		require.Equal(t, tt.param, oe["param"], tt.name)
	}

	// The turn rate limit: the requests above that reached it count; the next is a 429 with
	// Retry-After, in OpenAI's shape.
	var r response
	for range 3 {
		r = cl.do("POST", "/v1/chat/completions", map[string]any{"messages": hi["messages"], "top_p": 9})
	}
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	oe := r.openAIErr(t)
	require.Equal(t, "rate_limit_error", oe["type"])
	require.Equal(t, "rate_limited", oe["code"])

	// The rest of the API keeps its own envelope.
	r = anon.do("GET", "/v1/sessions", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "UNAUTHENTICATED", r.errCode(t))
	r = cl.do("GET", "/v1/modelsx", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "ROUTE_NOT_FOUND", r.errCode(t))
}

// completionEnv is the API with fakes for the chat service (which ends each accepted completion
// with 503, after the session is stored), Ollama's models and the tool catalog.
type completionEnv struct {
	*apiEnv
	chat *fakeChat
	cl   *apiClient
}

func newCompletionEnv(t *testing.T) *completionEnv {
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.ImageMaxBytes, c.ImageMaxCount = 16, 2 })
	f := &fakeChat{err: models.Errorf(models.ErrUnavailable, "FAKE", "the fake chat service starts no turn"),
		sessions: &chat.Service{Store: e.store, Box: e.srv.box, Now: time.Now}}
	e.srv.chat, e.srv.models = f, fakeModels{}
	e.srv.tools = fakeCatalog{{Name: "time_now", Server: "datetime"}}
	cl, _ := e.signup("carla")
	return &completionEnv{apiEnv: e, chat: f, cl: cl}
}

// complete posts a completion; an accepted one reaches the fake chat service (503).
func (e *completionEnv) complete(body map[string]any) response {
	if body["model"] == nil {
		body["model"] = "llama3.1:8b"
	}
	return e.cl.do("POST", "/v1/chat/completions", body)
}

// lastSession is the session the latest accepted completion stored, with its messages in clear.
func (e *completionEnv) lastSession(t *testing.T) (endUser string, tools []models.ClientTool, msgs []messageJSON, images [][][]byte) {
	t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	var sealed []byte
	require.NoError(t, e.store.SQL().QueryRowContext(ctx,
		`SELECT id, end_user, client_tools FROM chat_sessions ORDER BY created_at DESC LIMIT 1`).Scan(&id, &endUser, &sealed))
	if sealed != nil {
		raw, err := e.srv.box.Decrypt(store.SessionClientTools(id), sealed)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &tools))
	}
	stored, err := e.store.Messages(ctx, id, 100, false)
	require.NoError(t, err)
	for i := range stored {
		m, err := e.srv.toMessageJSON(&stored[i])
		require.NoError(t, err)
		msgs = append(msgs, m)
		var imgs [][]byte
		if stored[i].Images != nil {
			raw, err := e.srv.box.Decrypt(store.MessageImages(stored[i].ID), stored[i].Images)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &imgs))
		}
		images = append(images, imgs)
	}
	return endUser, tools, msgs, images
}

func dataURL(b []byte) string { return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b) }

// Content-part arrays: text parts are joined, images (data: URLs, for a model with the vision
// capability) go with their message; what cannot be honoured is a 400 naming the field, before
// anything is stored.
func TestCompletionContentParts(t *testing.T) {
	t.Parallel()
	e := newCompletionEnv(t)
	png := []byte("\x89PNG\r\n\x1a\nIHDR")
	text := func(s string) map[string]any { return map[string]any{"type": "text", "text": s} }
	image := func(url string) map[string]any {
		return map[string]any{"type": "image_url", "image_url": map[string]any{"url": url, "detail": "low"}}
	}
	user := func(parts ...map[string]any) []map[string]any {
		return []map[string]any{{"role": "user", "content": parts}}
	}

	r := e.complete(map[string]any{"messages": []map[string]any{
		{"role": "system", "content": []map[string]any{text("Be brief.")}},
		{"role": "user", "content": []map[string]any{text("first"), text("second")}},
	}, "user": "end-user-42"})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.Equal(t, "first\n\nsecond", e.chat.posted[0].Content)
	require.Empty(t, e.chat.posted[0].Images)
	endUser, _, _, _ := e.lastSession(t)
	require.Equal(t, "end-user-42", endUser, "the request's user is kept with the session")

	// Images, in the turn's message and in the history, for a vision model.
	r = e.complete(map[string]any{"model": "llava:7b", "messages": []map[string]any{
		{"role": "user", "content": []map[string]any{image(dataURL([]byte("GIF89a")))}},
		{"role": "assistant", "content": "a gif"},
		{"role": "user", "content": []map[string]any{text("and this?"), image(dataURL(png))}},
	}})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	last := e.chat.posted[len(e.chat.posted)-1]
	require.Equal(t, "and this?", last.Content)
	require.Equal(t, [][]byte{png}, last.Images)
	_, _, msgs, images := e.lastSession(t)
	require.Len(t, msgs, 2)
	require.Equal(t, [][]byte{[]byte("GIF89a")}, images[0], "the history's image is stored, sealed")
	posted := len(e.chat.posted)

	tests := []struct {
		name  string
		body  map[string]any
		param string
		msg   string
	}{
		{"image for a model without vision", map[string]any{"messages": user(text("what?"), image(dataURL(png)))},
			"messages[0].content", "takes no images"},
		{"remote image URL", map[string]any{"model": "llava:7b", "messages": user(image("https://example.com/cat.png"))},
			"messages[0].content[0].image_url.url", "does not fetch images"},
		{"not a data URL", map[string]any{"model": "llava:7b", "messages": user(image("file:///etc/passwd"))},
			"messages[0].content[0].image_url.url", "base64 data: URL"},
		{"unsupported media type", map[string]any{"model": "llava:7b", "messages": user(image("data:image/svg+xml;base64,PHN2Zz4="))},
			"messages[0].content[0].image_url.url", "PNG, JPEG or WebP"},
		{"bad base64", map[string]any{"model": "llava:7b", "messages": user(image("data:image/png;base64,!!!"))},
			"messages[0].content[0].image_url.url", "not valid base64"},
		{"image over IMAGE_MAX_BYTES", map[string]any{"model": "llava:7b", "messages": user(image(dataURL(make([]byte, 17))))},
			"messages[0].content[0].image_url.url", "IMAGE_MAX_BYTES"},
		{"more images than IMAGE_MAX_COUNT", map[string]any{"model": "llava:7b", "messages": user(image(dataURL(png)), image(dataURL(png)), image(dataURL(png)))},
			"messages[0].content", "IMAGE_MAX_COUNT"},
		{"unsupported part type", map[string]any{"messages": user(text("read"), map[string]any{"type": "file", "file": map[string]any{"file_id": "file-1"}})},
			"messages[0].content[1].type", `"file" are not supported`},
		{"unknown field in a part", map[string]any{"messages": user(map[string]any{"type": "text", "text": "x", "cache_control": 1})},
			"messages[0].content[0]", "cache_control"},
		{"image in a system message", map[string]any{"model": "llava:7b", "messages": []map[string]any{
			{"role": "system", "content": []map[string]any{image(dataURL(png))}}, {"role": "user", "content": "hi"}}},
			"messages[0].content[0].type", "only user messages"},
		{"content of the wrong type", map[string]any{"messages": []map[string]any{{"role": "user", "content": 7}}},
			"messages[0].content", "a string or an array"},
		{"last message has no content", map[string]any{"messages": user(text("  "))},
			"messages[0]", "last message must be a user message"},
	}
	for _, tt := range tests {
		r := e.complete(tt.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", tt.name, r.Body)
		oe := r.openAIErr(t)
		require.Equal(t, tt.param, oe["param"], "%s: %s", tt.name, r.Body)
		require.Contains(t, oe["message"], tt.msg, tt.name)
	}
	require.Len(t, e.chat.posted, posted, "refused requests never reach the chat service")
}

// tools are client-side functions: stored (sealed) with the session for the model, unless
// tool_choice is "none"; what Ollama cannot honour and names that are not the client's to use
// are a 400 naming the field. The client's next request (the assistant's tool calls and their
// results) continues the conversation: a turn without a new message.
func TestCompletionClientTools(t *testing.T) {
	t.Parallel()
	e := newCompletionEnv(t)
	weather := map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather of a city",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}
	ask := []map[string]any{{"role": "user", "content": "weather in Paris?"}}

	r := e.complete(map[string]any{"messages": ask, "tools": []any{weather}, "tool_choice": "auto"})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	_, tools, _, _ := e.lastSession(t)
	require.Len(t, tools, 1)
	require.Equal(t, "get_weather", tools[0].Name)
	require.JSONEq(t, `{"type":"object","properties":{"city":{"type":"string"}}}`, string(tools[0].Parameters))

	r = e.complete(map[string]any{"messages": ask, "tools": []any{weather}, "tool_choice": "none"})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	_, tools, _, _ = e.lastSession(t)
	require.Empty(t, tools, "tool_choice none offers the model no function")

	// The round trip's second request: the assistant's call and its result; the turn continues.
	r = e.complete(map[string]any{"tools": []any{weather}, "messages": []map[string]any{
		{"role": "user", "content": "weather in Paris?"},
		// index, as a client that assembled the message from streamed deltas sends it back
		{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"index": 0, "id": "call_1", "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}},
		{"role": "tool", "tool_call_id": "call_1", "content": []map[string]any{{"type": "text", "text": "22 C"}}},
	}})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	last := e.chat.posted[len(e.chat.posted)-1]
	require.True(t, last.Continue)
	require.Empty(t, last.Content)
	_, _, msgs, _ := e.lastSession(t)
	require.Len(t, msgs, 3, "the whole conversation is the history")
	require.Equal(t, []toolCallJSON{{ID: "call_1", Name: "get_weather", Arguments: map[string]any{"city": "Paris"}}}, msgs[1].ToolCalls)
	require.Equal(t, "tool", msgs[2].Role)
	require.Equal(t, "call_1", msgs[2].ToolCallID)
	require.Equal(t, "get_weather", msgs[2].ToolName, "the result names the function it answers")
	require.Equal(t, "22 C", msgs[2].Content)
	posted := len(e.chat.posted)

	fn := func(name string, params any) map[string]any {
		return map[string]any{"type": "function", "function": map[string]any{"name": name, "parameters": params}}
	}
	call := func(id, args string) map[string]any {
		return map[string]any{"role": "assistant", "tool_calls": []map[string]any{{"id": id, "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": args}}}}
	}
	tests := []struct {
		name  string
		body  map[string]any
		param string
		msg   string
	}{
		{"tool_choice required", map[string]any{"messages": ask, "tools": []any{weather}, "tool_choice": "required"},
			"tool_choice", "Ollama cannot be made to call a tool"},
		{"tool_choice naming a function", map[string]any{"messages": ask, "tools": []any{weather},
			"tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
			"tool_choice", "particular function"},
		{"unknown tool_choice", map[string]any{"messages": ask, "tool_choice": "sometimes"}, "tool_choice", `"auto" or "none"`},
		{"not a function", map[string]any{"messages": ask, "tools": []any{map[string]any{"type": "custom", "custom": map[string]any{"name": "x"}}}},
			"tools[0].type", `"function"`},
		{"bad name", map[string]any{"messages": ask, "tools": []any{fn("get weather", nil)}}, "tools[0].function.name", "1 to 64"},
		{"twice the same name", map[string]any{"messages": ask, "tools": []any{weather, weather}}, "tools[1].function.name", "used twice"},
		{"a platform tool's name", map[string]any{"messages": ask, "tools": []any{fn("time_now", nil)}},
			"tools[0].function.name", "platform's tools"},
		{"parameters not an object", map[string]any{"messages": ask, "tools": []any{fn("f", []int{1})}},
			"tools[0].function.parameters", "JSON Schema object"},
		{"result of an unknown call", map[string]any{"messages": []map[string]any{ask[0], call("call_1", "{}"),
			{"role": "tool", "tool_call_id": "call_9", "content": "x"}}}, "messages[2].tool_call_id", "answers no tool call"},
		{"call without its result", map[string]any{"messages": []map[string]any{ask[0], call("call_1", "{}"),
			{"role": "user", "content": "and?"}}}, "messages[2]", `answering tool_call_id "call_1"`},
		{"last call without its result", map[string]any{"messages": []map[string]any{ask[0], call("call_1", "{}")}},
			"messages", "need their results"},
		{"arguments not JSON", map[string]any{"messages": []map[string]any{ask[0], call("call_1", "{city"),
			{"role": "tool", "tool_call_id": "call_1", "content": "x"}}}, "messages[1].tool_calls[0].function.arguments", "JSON object"},
		{"tool message without its id", map[string]any{"messages": []map[string]any{ask[0], call("call_1", "{}"),
			{"role": "tool", "content": "x"}}}, "messages[2].tool_call_id", "required"},
	}
	for _, tt := range tests {
		r := e.complete(tt.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", tt.name, r.Body)
		oe := r.openAIErr(t)
		require.Equal(t, tt.param, oe["param"], "%s: %s", tt.name, r.Body)
		require.Contains(t, oe["message"], tt.msg, tt.name)
	}
	require.Len(t, e.chat.posted, posted, "refused requests never reach the chat service")
}

// The parameters clients send with their default values (n, parallel_tool_calls, logprobs,
// logit_bias, store; the LangChain and chat-UI defaults) are accepted; the penalties reach the
// model as Ollama's options; parallel_tool_calls false makes the session keep one call per model
// message; a value a turn cannot honour is a 400 naming it, before anything is stored.
func TestCompletionClientDefaults(t *testing.T) {
	t.Parallel()
	e := newCompletionEnv(t)
	ask := []map[string]any{{"role": "user", "content": "hello"}}
	weather := map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "object"}}}

	r := e.complete(map[string]any{"messages": ask, "n": 1, "parallel_tool_calls": true, "logprobs": false, "logit_bias": map[string]any{},
		"store": true, "presence_penalty": 0.5, "frequency_penalty": -1.5, "temperature": 0.7, "tools": []any{weather}})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	last := e.chat.posted[len(e.chat.posted)-1]
	require.Equal(t, map[string]any{"presence_penalty": 0.5, "frequency_penalty": -1.5, "temperature": 0.7}, last.Options)
	oneToolCall := func() bool {
		var one bool
		require.NoError(t, e.store.SQL().QueryRowContext(context.Background(),
			`SELECT one_tool_call FROM chat_sessions ORDER BY created_at DESC LIMIT 1`).Scan(&one))
		return one
	}
	require.False(t, oneToolCall(), "parallel_tool_calls true: every call of a message is kept")
	r = e.complete(map[string]any{"messages": ask, "parallel_tool_calls": false, "store": false, "tools": []any{weather}})
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.True(t, oneToolCall(), "parallel_tool_calls false: the session keeps one call per message")
	posted := len(e.chat.posted)

	for _, tt := range []struct {
		param string
		value any
		extra map[string]any
		msg   string
	}{
		{"n", 2, nil, "n must be 1"},
		{"n", 0, nil, "n must be 1"},
		{"logprobs", true, nil, "not returned"},
		{"logit_bias", map[string]any{"50256": -100}, nil, "not supported"},
		{"presence_penalty", 2.5, nil, "between -2 and 2"},
		{"frequency_penalty", -3, nil, "between -2 and 2"},
		{"top_logprobs", 2, nil, ""},
	} {
		body := map[string]any{"messages": ask, tt.param: tt.value}
		for k, v := range tt.extra {
			body[k] = v
		}
		r := e.complete(body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s=%v: %s", tt.param, tt.value, r.Body)
		oe := r.openAIErr(t)
		require.Equal(t, tt.param, oe["param"], "%s", r.Body)
		require.Contains(t, oe["message"], tt.msg, "%s", r.Body)
	}
	require.Len(t, e.chat.posted, posted, "refused requests never reach the chat service")
}

// response_format: json_object and json_schema become the session's format (Ollama's "json" or
// the schema, sealed), text none; a malformed one, or one with tools, is a 400 naming the field.
func TestCompletionResponseFormat(t *testing.T) {
	t.Parallel()
	e := newCompletionEnv(t)
	e.srv.toolLimits.MaxSchemaBytes = 1000
	ask := []map[string]any{{"role": "user", "content": "the weather as JSON"}}
	lastFormat := func() string {
		var id uuid.UUID
		var sealed []byte
		require.NoError(t, e.store.SQL().QueryRowContext(context.Background(),
			`SELECT id, response_format FROM chat_sessions ORDER BY created_at DESC LIMIT 1`).Scan(&id, &sealed))
		format, err := store.OpenResponseFormat(e.srv.box, id, sealed)
		require.NoError(t, err)
		return string(format)
	}
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}
	for _, tt := range []struct {
		format any
		want   string
	}{
		{map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "weather", "schema": schema, "strict": true}},
			`{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}`},
		{map[string]any{"type": "json_object"}, `"json"`},
		{map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "anything"}}, `"json"`},
		{map[string]any{"type": "text"}, ``},
		{nil, ``},
	} {
		r := e.complete(map[string]any{"messages": ask, "response_format": tt.format})
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%v: %s", tt.format, r.Body)
		require.Equal(t, tt.want, lastFormat(), "%v", tt.format)
	}
	posted := len(e.chat.posted)

	weather := map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "object"}}}
	for _, tt := range []struct {
		body  map[string]any
		param string
	}{
		{map[string]any{"response_format": map[string]any{"type": "xml"}}, "response_format.type"},
		{map[string]any{"response_format": "json"}, "response_format"},
		{map[string]any{"response_format": map[string]any{"type": "json_object", "extra": 1}}, "response_format"},
		{map[string]any{"response_format": map[string]any{"type": "json_schema"}}, "response_format.json_schema"},
		{map[string]any{"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "a b", "schema": schema}}}, "response_format.json_schema.name"},
		{map[string]any{"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "w", "schema": []int{1}}}}, "response_format.json_schema.schema"},
		{map[string]any{"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "w",
			"schema": map[string]any{"description": strings.Repeat("x", 1000)}}}}, "response_format.json_schema.schema"},
		{map[string]any{"response_format": map[string]any{"type": "json_object"}, "tools": []any{weather}}, "response_format"},
	} {
		tt.body["messages"] = ask
		r := e.complete(tt.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", tt.body, r.Body)
		require.Equal(t, tt.param, r.openAIErr(t)["param"], "%s", r.Body)
	}
	require.Len(t, e.chat.posted, posted, "refused requests never reach the chat service")
}
