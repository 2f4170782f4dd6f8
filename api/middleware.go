package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/logging"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/models"
)

const requestIDHeader = "X-Request-ID"

// validRequestID accepts client-chosen ids that are safe to echo into headers and logs.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID takes X-Request-ID from the client when it is well-formed or generates one, echoes it
// in the response and puts it into the request context so every log line carries it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if !validRequestID.MatchString(id) {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Header(requestIDHeader, id)
		// The request's span (when traced) names the request id; its log lines name the trace.
		trace.SpanFromContext(c.Request.Context()).SetAttributes(attribute.String("youworker.request_id", id))
		c.Request = c.Request.WithContext(logging.With(c.Request.Context(), slog.String(logging.RequestIDKey, id)))
		c.Next()
	}
}

// recovery turns a panic into a logged 500 with the error envelope.
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler { //nolint:errorlint // sentinel comparison is what net/http documents
					panic(r)
				}
				s.log.ErrorContext(c.Request.Context(), "panic in handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					s.fail(c, errors.New("panic"))
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// accessLog logs each request once and records it in the HTTP metrics.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "route", route, "status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000, "bytes", c.Writer.Size(), "ip", c.ClientIP())
	}
}

// uploadRoutes take documents: their cap is MAX_UPLOAD_BYTES (plus room for the multipart
// framing); every other route's is MAX_BODY_BYTES.
var uploadRoutes = map[string]bool{"/v1/documents": true, "/v1/ingest": true}

// limitBody caps the request body: a declared Content-Length above the cap is refused at once with
// 413 without reading anything; a body that grows past it while being read fails the decode with
// http.MaxBytesError, also answered with 413.
func (s *Server) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := s.cfg.MaxBodyBytes
		switch {
		case uploadRoutes[c.FullPath()] && c.Request.Method == http.MethodPost:
			limit = s.cfg.MaxUploadBytes + 64<<10
		case c.FullPath() == completionsRoute && c.Request.Method == http.MethodPost:
			limit = s.cfg.CompletionBodyBytes() + s.cfg.AudioInlineBytes() // images and audio come as base64
		case s.audioUpload(c):
			limit = s.cfg.AudioUploadBytes()
		}
		if c.FullPath() == mcpservers.EndpointPath {
			limit = s.mcpBodyLimit()
		}
		if c.Request.ContentLength > limit {
			c.Header("Connection", "close")
			s.fail(c, tooLarge(limit))
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

func tooLarge(limit int64) error {
	return models.Errorf(models.ErrTooLarge, "REQUEST_TOO_LARGE", "request body exceeds %d bytes", limit).
		WithDetails(map[string]any{"limit_bytes": limit})
}

// noRoute and noMethod answer unknown paths and wrong methods with the envelope.
func (s *Server) noRoute(c *gin.Context) {
	s.fail(c, models.Errorf(models.ErrNotFound, "ROUTE_NOT_FOUND", "no route for %s %s", c.Request.Method, c.Request.URL.Path))
}

func (s *Server) noMethod(c *gin.Context) {
	c.Status(http.StatusMethodNotAllowed)
	_, body := s.render(c, models.Errorf(models.ErrInvalid, "METHOD_NOT_ALLOWED", "method %s is not allowed here", c.Request.Method))
	s.answerError(c, http.StatusMethodNotAllowed, body)
}
