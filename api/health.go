package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/models"
)

// Check is one dependency reported by /health/detailed.
type Check struct {
	Name     string
	Required bool // a required dependency that is down makes /health/detailed answer 503
	// Probe returns nil when the dependency works. A nil Probe reports "not_configured".
	Probe func(ctx context.Context) error
}

type checkResult struct {
	Status    string  `json:"status"` // up, down, not_configured
	Required  bool    `json:"required"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// health is liveness: it never touches a dependency.
func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// healthDetailed is the detailed health on the public port, for administrators (requireAdmin).
func (s *Server) healthDetailed(c *gin.Context) {
	code, body := s.detailedHealth(c.Request.Context())
	if code == http.StatusServiceUnavailable {
		c.Header("Retry-After", retryAfterSeconds)
	}
	c.JSON(code, body)
}

// serveDetailedHealth is the detailed health on the metrics listener.
func (s *Server) serveDetailedHealth(w http.ResponseWriter, r *http.Request) {
	code, body := s.detailedHealth(r.Context())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// requireAdmin lets administrators (is_admin) through; other callers get a 403.
func (s *Server) requireAdmin(c *gin.Context) {
	if !callerOf(c).IsAdmin {
		s.fail(c, models.Errorf(models.ErrForbidden, "FORBIDDEN", "only administrators may read this; operators read it on the metrics address"))
		return
	}
	c.Next()
}

// detailedHealth probes every dependency concurrently, each under HEALTH_CHECK_TIMEOUT, and
// returns the status code and body of the answer.
func (s *Server) detailedHealth(ctx context.Context) (int, gin.H) {
	results := make(map[string]checkResult, len(s.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range s.checks {
		wg.Go(func() {
			r := s.probe(ctx, chk)
			mu.Lock()
			results[chk.Name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	for _, r := range results {
		if r.Status == "down" {
			if r.Required {
				status, code = "unavailable", http.StatusServiceUnavailable
			} else if status == "ok" {
				status = "degraded"
			}
		}
	}
	return code, gin.H{"status": status, "checks": results}
}

func (s *Server) probe(ctx context.Context, chk Check) checkResult {
	r := checkResult{Required: chk.Required, Status: "not_configured"}
	if chk.Probe == nil {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HealthCheckTimeout)
	defer cancel()
	start := time.Now()
	err := chk.Probe(ctx)
	r.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	r.Status = "up"
	if err != nil {
		// The cause (addresses, driver messages) goes to the log, not to unauthenticated callers.
		r.Status, r.Error = "down", "unavailable"
		if ctx.Err() != nil {
			r.Error = "timeout"
		}
		s.log.WarnContext(ctx, "health check failed", "dependency", chk.Name, "error", err)
	}
	return r
}
