package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/auth"
	"github.com/youworker/youworker/models"
)

const (
	callerKey          = "yw.caller"
	accessCookie       = "access_token"
	refreshCookie      = "refresh_token"
	refreshCookiePath  = "/v1/auth"
	csrfHeader         = "X-CSRF-Token"
	apiKeyHeader       = "X-API-Key"
	csrfCookiePlain    = "csrf_token"
	csrfCookieHostOnly = "__Host-csrf_token" // when cookies are Secure: bound to this exact origin
)

func unauthenticated(code, msg string) error {
	return models.Errorf(models.ErrUnauthenticated, code, "%s", msg)
}

// authenticate establishes the caller from, in order, X-API-Key, Authorization: Bearer, or the
// access_token cookie. A presented API key or bearer token that fails is a 401 at once; an
// invalid cookie is ignored (the request continues anonymously) so that a stale cookie never
// blocks logging in again. Group memberships and the login's liveness are read on every request.
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		caller, err := s.identify(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		if caller != nil {
			c.Set(callerKey, *caller)
		}
		c.Next()
	}
}

func (s *Server) identify(c *gin.Context) (*models.Caller, error) {
	ctx := c.Request.Context()
	if caller, ok, err := s.identifyProxyHeaders(c); ok || err != nil {
		return caller, err
	}
	if key := c.GetHeader(apiKeyHeader); key != "" {
		return s.identifyAPIKey(c, key)
	}
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, unauthenticated("INVALID_TOKEN", "Authorization must be 'Bearer <token>'")
		}
		token = strings.TrimSpace(token)
		if auth.LooksLikeAPIKey(token) { // what the OpenAI SDKs and most clients send
			return s.identifyAPIKey(c, token)
		}
		caller, err := s.identifyToken(c, token, models.AuthBearer)
		if err != nil {
			return nil, err
		}
		return caller, nil
	}
	if cookie, err := c.Cookie(accessCookie); err == nil && cookie != "" {
		caller, err := s.identifyToken(c, cookie, models.AuthCookie)
		if errors.Is(err, models.ErrUnauthenticated) {
			s.log.DebugContext(ctx, "ignoring invalid access cookie", "error", err)
			return nil, nil
		}
		return caller, err
	}
	return nil, nil
}

func (s *Server) identifyToken(c *gin.Context, token string, method models.AuthMethod) (*models.Caller, error) {
	userID, sid, authTime, err := s.tokens.VerifyAccessAuthTime(token)
	if err != nil {
		s.log.DebugContext(c.Request.Context(), "access token rejected", "error", err)
		return nil, unauthenticated("INVALID_TOKEN", "access token is invalid or expired")
	}
	st, err := s.callers.load(c.Request.Context(), userID, sid, s.now(), s.store.LoadCaller)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !st.SessionActive) {
		return nil, unauthenticated("SESSION_ENDED", "this login has ended; log in again")
	}
	if err != nil {
		return nil, err
	}
	return &models.Caller{UserID: userID, Username: st.User.Username, IsAdmin: st.User.IsAdmin,
		Method: method, SessionID: sid, Groups: st.Groups, AuthTime: authTime}, nil
}

func (s *Server) identifyAPIKey(c *gin.Context, key string) (*models.Caller, error) {
	ctx := c.Request.Context()
	bad := unauthenticated("INVALID_API_KEY", "API key is invalid, revoked or expired")
	id, secret, err := auth.ParseAPIKey(key)
	if err != nil {
		return nil, bad
	}
	k, err := s.store.APIKeyForAuth(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !auth.SecretMatches(secret, k.SecretHash) || k.RevokedAt != nil || (k.ExpiresAt != nil && !k.ExpiresAt.After(now)) {
		return nil, bad
	}
	st, err := s.store.LoadCaller(ctx, k.UserID, uuid.Nil)
	if errors.Is(err, models.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.TouchAPIKey(ctx, k.ID, now); err != nil {
		s.log.WarnContext(ctx, "recording API key use failed", "error", err)
	}
	scopes := make([]models.Scope, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = models.Scope(sc)
	}
	return &models.Caller{UserID: k.UserID, Username: st.User.Username, IsAdmin: st.User.IsAdmin,
		Method: models.AuthAPIKey, Groups: st.Groups, Scopes: scopes}, nil
}

// clearCallersAfter clears this process's caller cache after a request that may have changed a
// user, a login or a membership (the auth, account and group routes), before its response is
// complete: the next request here reads the new state. Other processes hear of it through
// Postgres (see callerCache).
func (s *Server) clearCallersAfter(c *gin.Context) {
	c.Next()
	if unsafeMethod(c.Request.Method) {
		s.callers.clear()
	}
}

// requireCaller rejects anonymous requests and enforces CSRF on cookie-authenticated unsafe ones.
func (s *Server) requireCaller(c *gin.Context) {
	v, ok := c.Get(callerKey)
	if !ok {
		s.fail(c, unauthenticated("UNAUTHENTICATED", "authentication required"))
		return
	}
	caller := v.(models.Caller)
	if caller.Method == models.AuthCookie && unsafeMethod(c.Request.Method) {
		if err := s.checkCSRF(c, caller.SessionID); err != nil {
			s.fail(c, err)
			return
		}
	}
	// A proxy's vouching is ambient, like a cookie, but carries no login to bind a CSRF token to:
	// its unsafe requests must prove they come from an allowed page (originCheck vetted the value).
	if caller.Method == models.AuthProxy && unsafeMethod(c.Request.Method) && c.GetHeader("Origin") == "" {
		s.fail(c, models.Errorf(models.ErrForbidden, "CSRF_FAILED", "requests through the authenticating proxy must carry an Origin header"))
		return
	}
	c.Next()
}

// callerOf returns the caller established by authenticate; only valid behind requireCaller.
func callerOf(c *gin.Context) models.Caller {
	return c.MustGet(callerKey).(models.Caller)
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// checkCSRF verifies the signed double-submit token: the X-CSRF-Token header must equal the CSRF
// cookie and carry a valid HMAC for the caller's login session.
func (s *Server) checkCSRF(c *gin.Context, sid uuid.UUID) error {
	header := c.GetHeader(csrfHeader)
	cookie, _ := c.Cookie(s.csrfCookieName())
	if header == "" || cookie == "" ||
		subtle.ConstantTimeCompare([]byte(header), []byte(cookie)) != 1 ||
		!s.tokens.CheckCSRF(header, sid) {
		return models.Errorf(models.ErrForbidden, "CSRF_FAILED", "missing or invalid CSRF token (send the X-CSRF-Token header)")
	}
	return nil
}

func (s *Server) csrfCookieName() string {
	if s.cfg.CookieSecure {
		return csrfCookieHostOnly
	}
	return csrfCookiePlain
}

// setAuthCookies sets the access, refresh and CSRF cookies of a login.
func (s *Server) setAuthCookies(c *gin.Context, access string, accessExp time.Time, refresh, csrf string) {
	maxAge := int(time.Until(accessExp).Seconds())
	s.setCookie(c, &http.Cookie{Name: accessCookie, Value: access, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.setCookie(c, &http.Cookie{Name: refreshCookie, Value: refresh, Path: refreshCookiePath,
		MaxAge: int(s.cfg.RefreshTokenTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.setCSRFCookie(c, csrf)
}

func (s *Server) setCSRFCookie(c *gin.Context, csrf string) {
	// Readable by the page's script (that is the double-submit), bound to the origin.
	s.setCookie(c, &http.Cookie{Name: s.csrfCookieName(), Value: csrf, Path: "/",
		MaxAge: int(s.cfg.RefreshTokenTTL.Seconds()), SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearAuthCookies(c *gin.Context) {
	s.setCookie(c, &http.Cookie{Name: accessCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.setCookie(c, &http.Cookie{Name: refreshCookie, Path: refreshCookiePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.setCookie(c, &http.Cookie{Name: s.csrfCookieName(), Path: "/", MaxAge: -1, SameSite: http.SameSiteStrictMode})
}

func (s *Server) setCookie(c *gin.Context, ck *http.Cookie) {
	ck.Secure = s.cfg.CookieSecure
	http.SetCookie(c.Writer, ck)
}
