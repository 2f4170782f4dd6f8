package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/logging"
	"github.com/youworker/youworker/models"
)

// errorBody is the one error envelope of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details"`
	RequestID string         `json:"request_id"`
}

// statusOf maps an error kind to its HTTP status and default code. This is the only place where
// domain errors become HTTP.
var statusOf = []struct {
	kind   error
	status int
	code   string
}{
	{models.ErrInvalid, http.StatusBadRequest, "VALIDATION_ERROR"},
	{models.ErrUnauthenticated, http.StatusUnauthorized, "UNAUTHENTICATED"},
	{models.ErrForbidden, http.StatusForbidden, "FORBIDDEN"},
	{models.ErrNotFound, http.StatusNotFound, "NOT_FOUND"},
	{models.ErrConflict, http.StatusConflict, "CONFLICT"},
	{models.ErrTooLarge, http.StatusRequestEntityTooLarge, "TOO_LARGE"},
	{models.ErrUnsupported, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"},
	{models.ErrUnprocessable, http.StatusUnprocessableEntity, "UNPROCESSABLE"},
	{models.ErrRateLimited, http.StatusTooManyRequests, "RATE_LIMITED"},
	{models.ErrUnavailable, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
	{models.ErrNotImplemented, http.StatusNotImplemented, "NOT_IMPLEMENTED"},
	{models.ErrBadGateway, http.StatusBadGateway, "BAD_GATEWAY"},
}

// retryAfterSeconds is sent with 503s; 429s carry their limiter's own value.
const retryAfterSeconds = "5"

// fail writes err as the error envelope and aborts the request. Unknown errors are logged with
// the request id and shown as "internal error". The OpenAI-compatible routes answer in OpenAI's
// error shape instead (openAIBody), whichever middleware or handler failed.
func (s *Server) fail(c *gin.Context, err error) {
	status, body := s.render(c, err)
	s.answerError(c, status, body)
}

// answerError writes an error envelope with status and aborts the request.
func (s *Server) answerError(c *gin.Context, status int, body errorBody) {
	if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", retryAfterSeconds)
	}
	if status == http.StatusUnauthorized && c.Writer.Header().Get("WWW-Authenticate") == "" {
		c.Header("WWW-Authenticate", challenge(c.Request))
	}
	if openAIRoute(c.Request.URL.Path) {
		c.AbortWithStatusJSON(status, openAIBody(status, body.Error))
		return
	}
	c.AbortWithStatusJSON(status, body)
}

// challenge is the WWW-Authenticate of a 401 (RFC 9110 requires one; MCP clients read it): a
// Bearer challenge (API keys and access tokens both go as bearer tokens), saying invalid_token
// (RFC 6750) when the request carried credentials that were refused.
func challenge(r *http.Request) string {
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-API-Key") != "" {
		return `Bearer realm="youworker", error="invalid_token"`
	}
	return `Bearer realm="youworker"`
}

// The OpenAI-compatible routes, whose errors the OpenAI SDKs must be able to read.
const (
	completionsRoute = "/v1/chat/completions"
	modelsRoute      = "/v1/models"
)

// openAIRoute reports whether path is one of the OpenAI-compatible routes (matched on the path,
// so that an unknown method or a failing middleware answers in their shape too).
func openAIRoute(path string) bool {
	path = strings.TrimSuffix(path, "/")
	return path == completionsRoute || path == modelsRoute || strings.HasPrefix(path, modelsRoute+"/") || path == transcriptionsRoute
}

// openAIBody is OpenAI's error shape, {"error": {"message", "type", "param", "code"}}: the
// type from the status as OpenAI names it (a spent budget is OpenAI's insufficient_quota), param
// the field a validation error names (null otherwise), code YouWorker's error code in lower case
// (invalid_api_key, rate_limited, budget_exceeded, …).
func openAIBody(status int, d errorDetail) gin.H {
	typ := "invalid_request_error"
	switch {
	case d.Code == models.CodeBudgetExceeded:
		typ = "insufficient_quota"
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "server_error"
	}
	var param any
	if f, ok := d.Details["field"].(string); ok && f != "" {
		param = f
	}
	return gin.H{"error": gin.H{"message": d.Message, "type": typ, "param": param, "code": strings.ToLower(d.Code)}}
}

func (s *Server) render(c *gin.Context, err error) (int, errorBody) {
	status, detail := s.describe(c.Request.Context(), err, c.FullPath())
	return status, errorBody{detail}
}

// describe maps err to its HTTP status and what the caller is told, for a response or an MCP tool
// error alike. Unknown errors are logged with the request id and where they happened (a route or
// a tool) and shown as "internal error".
func (s *Server) describe(ctx context.Context, err error, where string) (int, errorDetail) {
	rid := logging.RequestID(ctx)
	detail := errorDetail{Code: "INTERNAL_ERROR", Message: "internal error", Details: map[string]any{}, RequestID: rid}
	for _, m := range statusOf {
		if !errors.Is(err, m.kind) {
			continue
		}
		detail.Code, detail.Message = m.code, m.kind.Error()
		var de *models.Error
		if errors.As(err, &de) {
			if de.Code != "" {
				detail.Code = de.Code
			}
			if de.Message != "" {
				detail.Message = de.Message
			}
			if de.Details != nil {
				detail.Details = de.Details
			}
		}
		if m.status == http.StatusServiceUnavailable || m.status == http.StatusBadGateway {
			s.log.WarnContext(ctx, "dependency unavailable", "error", err)
		}
		return m.status, detail
	}
	s.log.ErrorContext(ctx, "internal error", "error", err, "path", where)
	return http.StatusInternalServerError, detail
}
