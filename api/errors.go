package api

import (
	"context"
	"errors"
	"net/http"

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
}

// retryAfterSeconds is sent with 503s; 429s carry their limiter's own value.
const retryAfterSeconds = "5"

// fail writes err as the error envelope and aborts the request. Unknown errors are logged with
// the request id and shown as "internal error".
func (s *Server) fail(c *gin.Context, err error) {
	status, body := s.render(c, err)
	if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", retryAfterSeconds)
	}
	c.AbortWithStatusJSON(status, body)
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
		if m.status == http.StatusServiceUnavailable {
			s.log.WarnContext(ctx, "dependency unavailable", "error", err)
		}
		return m.status, detail
	}
	s.log.ErrorContext(ctx, "internal error", "error", err, "path", where)
	return http.StatusInternalServerError, detail
}
