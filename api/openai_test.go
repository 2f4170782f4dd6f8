package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
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
		c.MaxBodyBytes = 4096
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
			body:   map[string]any{"messages": hi["messages"], "n": 2},
			status: 400, typ: "invalid_request_error", code: "validation_error", param: "n"},
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
