package api

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/models"
)

// securityHeaders sets the response headers every answer carries. The API serves JSON and event
// streams, never pages: nothing may frame, embed or script it.
func (s *Server) securityHeaders() gin.HandlerFunc {
	hsts := strings.HasPrefix(s.cfg.PublicURL, "https://")
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if hsts || c.Request.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}

// sameOrigin reports whether origin is the API's own: PUBLIC_URL's. Never the Host the request
// names: whoever sends the request chooses it.
func (s *Server) sameOrigin(origin string) bool {
	return origin != "" && origin == s.publicOrigin
}

func (s *Server) allowedOrigin(origin string) bool {
	return s.sameOrigin(origin) || slices.Contains(s.cfg.CORSOrigins, origin)
}

// originOf is the origin a browser sends for pages under rawURL: lower-case scheme and host, the
// port only when it is not the scheme's default; "" when rawURL is not an absolute http(s) URL.
func originOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}

// cors answers cross-origin requests from the configured origins only, with credentials; other
// origins get no CORS headers (the browser then withholds the response) and their preflights a 403.
// Arbitrary origins are never reflected.
func (s *Server) cors() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || s.sameOrigin(origin) {
			c.Next()
			return
		}
		allowed := slices.Contains(s.cfg.CORSOrigins, origin)
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, X-Turn-ID, WWW-Authenticate, Mcp-Session-Id")
		}
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			if !allowed {
				s.fail(c, models.Errorf(models.ErrForbidden, "ORIGIN_NOT_ALLOWED", "this origin may not call the API"))
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			// Mcp-Protocol-Version and Mcp-Session-Id: MCP clients in a browser send them to /mcp.
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-API-Key, X-CSRF-Token, Idempotency-Key, Last-Event-ID, X-Request-ID, Mcp-Protocol-Version, Mcp-Session-Id")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// originCheck refuses unsafe requests a browser sent from another site (a second line behind the
// CSRF token, and the only one for login and registration): Sec-Fetch-Site cross-site, or an
// Origin that is neither the API's own nor an allowed CORS origin.
func (s *Server) originCheck() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !unsafeMethod(c.Request.Method) {
			c.Next()
			return
		}
		origin := c.GetHeader("Origin")
		crossSite := c.GetHeader("Sec-Fetch-Site") == "cross-site"
		if (origin != "" && origin != "null" && !s.allowedOrigin(origin)) || (crossSite && !s.allowedOrigin(origin)) || origin == "null" {
			s.fail(c, models.Errorf(models.ErrForbidden, "CROSS_SITE_REQUEST", "cross-site requests are not allowed"))
			return
		}
		c.Next()
	}
}

// ipAllowlist refuses clients outside IP_ALLOWLIST. The client address is the connection's, or
// the one a trusted proxy reports: a forged X-Forwarded-For from anyone else changes nothing.
func (s *Server) ipAllowlist() gin.HandlerFunc {
	allowed := s.cfg.AllowedIPs()
	return func(c *gin.Context) {
		if len(allowed) == 0 || c.FullPath() == "/health" || allowed.Contains(c.ClientIP()) {
			c.Next()
			return
		}
		s.fail(c, models.Errorf(models.ErrForbidden, "IP_NOT_ALLOWED", "your address may not use this API"))
	}
}

// rateClass is a class of requests limited together, perMinute per key: the client IP, or the
// caller's user when byUser. The API's MCP tools count against the class of the route doing the
// same, so an agent cannot get around a route's limit through /mcp.
type rateClass struct {
	name      string
	perMinute int
	byUser    bool
}

func (s *Server) authRate() rateClass   { return rateClass{"auth", s.cfg.RateAuthPerMin, false} }
func (s *Server) turnRate() rateClass   { return rateClass{"turns", s.cfg.RateTurnsPerMin, true} }
func (s *Server) ingestRate() rateClass { return rateClass{"ingest", s.cfg.RateIngPerMin, true} }
func (s *Server) searchRate() rateClass { return rateClass{"search", s.cfg.RateSearch, true} }

// rateLimit limits a route class (see rateClass). Counters are shared through Postgres without a
// round trip per request (see limiter).
func (s *Server) rateLimit(rc rateClass) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := "ip:" + c.ClientIP()
		if rc.byUser {
			v, ok := c.Get(callerKey)
			if !ok {
				c.Next()
				return
			}
			key = userRateKey(v.(models.Caller))
		}
		if wait, err := s.spend(rc, key); err != nil {
			c.Header("Retry-After", strconv.Itoa(wait))
			s.fail(c, err)
			return
		}
		c.Next()
	}
}

func userRateKey(c models.Caller) string { return "user:" + c.UserID.String() }

// spend counts one request of class rc against key. Over the limit it returns RATE_LIMITED and the
// seconds until the window ends.
func (s *Server) spend(rc rateClass, key string) (int, error) {
	if !s.cfg.RateLimits || rc.perMinute <= 0 {
		return 0, nil
	}
	count, end := s.limits.hit(rc.name+":"+key, time.Minute, s.now())
	if count <= rc.perMinute {
		return 0, nil
	}
	wait := max(int(math.Ceil(time.Until(end).Seconds())), 1)
	s.metrics.rateLimited.WithLabelValues(rc.name).Inc()
	return wait, models.Errorf(models.ErrRateLimited, "RATE_LIMITED", "too many requests; retry in %d s", wait).
		WithDetails(map[string]any{"limit": rc.perMinute, "window_seconds": 60, "retry_after_seconds": wait})
}
