package api

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/auth"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

type userJSON struct {
	ID          uuid.UUID  `json:"id"`
	Username    string     `json:"username"`
	Email       *string    `json:"email"`
	DisplayName string     `json:"display_name"`
	IsAdmin     bool       `json:"is_admin"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`

	// EmailVerified says the email was shown to be the user's (by an identity provider); a locally
	// registered email never is.
	EmailVerified bool `json:"email_verified"`
}

type meJSON struct {
	userJSON
	Groups     []userGroupJSON   `json:"groups"`
	AuthMethod models.AuthMethod `json:"auth_method"`
}

type userGroupJSON struct {
	ID   uuid.UUID   `json:"id"`
	Name string      `json:"name"`
	Role models.Role `json:"role"`
}

func toUserJSON(u *models.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt, EmailVerified: u.Email != nil && u.EmailVerifiedAt != nil}
}

type registerRequest struct {
	Username    string  `json:"username" binding:"required,min=3,max=64,username"`
	Password    string  `json:"password" binding:"required,min=8,max=256"`
	Email       *string `json:"email" binding:"omitempty,email,max=254"`
	DisplayName string  `json:"display_name" binding:"max=100"`
}

func (s *Server) register(c *gin.Context) {
	if !s.cfg.AllowRegistration {
		s.fail(c, models.Errorf(models.ErrForbidden, "REGISTRATION_DISABLED", "registration is disabled on this server"))
		return
	}
	var req registerRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		s.fail(c, err)
		return
	}
	u := &models.User{Username: req.Username, Email: req.Email, DisplayName: req.DisplayName, PasswordHash: &hash}
	if err := s.store.CreateUser(c.Request.Context(), u); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &u.ID, "user.register", "user", u.ID.String(), nil)
	c.JSON(http.StatusCreated, toUserJSON(u))
}

type loginRequest struct {
	Username string `json:"username" binding:"required,max=64"`
	Password string `json:"password" binding:"required,max=256"`
}

type loginResponse struct {
	User        userJSON  `json:"user"`
	CSRFToken   string    `json:"csrf_token"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	// AuthTime is when the user of this login last proved who they are; the sensitive routes
	// need it within REAUTH_WINDOW. Null for logins older than the record of it.
	AuthTime *time.Time `json:"auth_time"`
}

var errBadCredentials = unauthenticated("INVALID_CREDENTIALS", "invalid username or password")

// login checks the password (the same work and the same answer whether or not the user
// exists), then starts a login session: a refresh-token family, an access token and a CSRF token.
// A username with too many failed attempts waits first (checkBackoff), known or not.
func (s *Server) login(c *gin.Context) {
	ctx := c.Request.Context()
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkBackoff(c, req.Username, nil, "auth.login"); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.store.UserByUsername(ctx, req.Username)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		s.fail(c, err)
		return
	}
	var hash *string
	if u != nil {
		hash = u.PasswordHash
	}
	if !auth.CheckPassword(req.Password, hash) {
		var actor *uuid.UUID
		if u != nil {
			actor = &u.ID
		}
		s.auditFailure(c, actor, "auth.login", map[string]any{"username": req.Username})
		s.fail(c, errBadCredentials)
		return
	}
	if err := s.store.FinishLogin(ctx, req.Username); err != nil {
		s.fail(c, err)
		return
	}
	resp, err := s.startLogin(c, u)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &u.ID, "auth.login", "user", u.ID.String(), nil)
	c.JSON(http.StatusOK, resp)
}

// backoff is the per-username policy against password guessing (LOGIN_BACKOFF_*).
func (s *Server) backoff() store.LoginBackoff {
	return store.LoginBackoff{After: s.cfg.BackoffAfter, Base: s.cfg.BackoffBase, Max: s.cfg.BackoffMax, Forget: s.cfg.BackoffForget}
}

// checkBackoff counts a password attempt for username and refuses it (429 LOGIN_BACKOFF with
// Retry-After, audited) while the username waits after too many failures. The counter is per
// username, shared by every API process, and the same for names that belong to nobody, so the
// answer reveals nothing; a successful attempt resets it (Store.FinishLogin).
func (s *Server) checkBackoff(c *gin.Context, username string, actor *uuid.UUID, action string) error {
	now := s.now()
	ok, retryAt, err := s.store.BeginLogin(c.Request.Context(), username, now, s.backoff())
	if err != nil || ok {
		return err
	}
	wait := max(int(math.Ceil(retryAt.Sub(now).Seconds())), 1)
	s.auditFailure(c, actor, action, map[string]any{"username": username, "reason": "backoff"})
	c.Header("Retry-After", strconv.Itoa(wait))
	return models.Errorf(models.ErrRateLimited, "LOGIN_BACKOFF", "too many failed attempts for this username; retry in %d s", wait).
		WithDetails(map[string]any{"retry_after_seconds": wait})
}

// startLogin opens a login session for u: a refresh-token family, an access token and a CSRF
// token, set as cookies and returned.
func (s *Server) startLogin(c *gin.Context, u *models.User) (loginResponse, error) {
	ctx := c.Request.Context()
	now := s.now().Truncate(time.Second) // the precision of the access token's auth_time
	sid := uuid.New()
	refresh, refreshHash := auth.NewRefreshToken()
	rt := &models.RefreshToken{UserID: u.ID, FamilyID: sid, TokenHash: refreshHash, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
		UserAgent: truncate(c.Request.UserAgent(), 300), IP: c.ClientIP(), AuthTime: &now}
	if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
		return loginResponse{}, err
	}
	if err := s.store.TouchLogin(ctx, u.ID, now); err != nil {
		return loginResponse{}, err
	}
	u.LastLoginAt = &now
	access, exp, err := s.tokens.IssueAccessAt(u.ID, sid, now)
	if err != nil {
		return loginResponse{}, err
	}
	csrf := s.tokens.CSRFToken(sid)
	s.setAuthCookies(c, access, exp, refresh, csrf)
	return loginResponse{User: toUserJSON(u), CSRFToken: csrf, AccessToken: access, TokenType: "Bearer", ExpiresAt: exp,
		AuthTime: &now}, nil
}

// refresh rotates the refresh cookie and issues a new access token. Presenting a refresh token
// that was already rotated revokes the whole login (token family): someone copied it.
func (s *Server) refresh(c *gin.Context) {
	ctx := c.Request.Context()
	token, err := c.Cookie(refreshCookie)
	if err != nil || token == "" {
		s.fail(c, unauthenticated("INVALID_REFRESH_TOKEN", "no refresh token"))
		return
	}
	old, err := s.store.RefreshTokenByHash(ctx, auth.HashSecret(token))
	if errors.Is(err, models.ErrNotFound) {
		s.fail(c, unauthenticated("INVALID_REFRESH_TOKEN", "refresh token is invalid or expired"))
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkCSRF(c, old.FamilyID); err != nil {
		s.fail(c, err)
		return
	}
	now := s.now()
	next, nextHash := auth.NewRefreshToken()
	nt := &models.RefreshToken{TokenHash: nextHash, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
		UserAgent: truncate(c.Request.UserAgent(), 300), IP: c.ClientIP()}
	rotated, err := s.store.RotateRefreshToken(ctx, auth.HashSecret(token), nt, now)
	if err != nil {
		if errors.Is(err, store.ErrRefreshReused) {
			s.auditFailure(c, &old.UserID, "auth.refresh_reuse", map[string]any{"session_id": old.FamilyID})
		}
		if errors.Is(err, models.ErrUnauthenticated) {
			s.clearAuthCookies(c)
		}
		s.fail(c, err)
		return
	}
	u, err := s.store.UserByID(ctx, rotated.UserID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			err = unauthenticated("INVALID_REFRESH_TOKEN", "account no longer exists")
		}
		s.fail(c, err)
		return
	}
	// The new access token keeps the login's auth_time: refreshing proves nothing about the user.
	var authTime time.Time
	if rotated.AuthTime != nil {
		authTime = *rotated.AuthTime
	}
	access, exp, err := s.tokens.IssueAccessAt(u.ID, rotated.FamilyID, authTime)
	if err != nil {
		s.fail(c, err)
		return
	}
	csrf := s.tokens.CSRFToken(rotated.FamilyID)
	s.setAuthCookies(c, access, exp, next, csrf)
	c.JSON(http.StatusOK, loginResponse{User: toUserJSON(u), CSRFToken: csrf, AccessToken: access, TokenType: "Bearer", ExpiresAt: exp,
		AuthTime: rotated.AuthTime})
}

type reauthRequest struct {
	Password string `json:"password" binding:"required,max=256"`
}

// reauthenticate makes the caller's login fresh again for the sensitive routes (requireFresh):
// the user confirms their password, the login records the time (its refresh tokens carry it on),
// and a new access token with that auth_time replaces the old one (also as the cookie for cookie
// callers). Attempts are limited like logins: per IP and per username with backoff. Users without
// a password (single sign-on only) sign in again at the provider instead.
func (s *Server) reauthenticate(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	if caller.SessionID == uuid.Nil {
		s.fail(c, models.Errorf(models.ErrForbidden, "REAUTH_NOT_APPLICABLE", "only a login (cookie or bearer token) can be reauthenticated"))
		return
	}
	var req reauthRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.checkBackoff(c, caller.Username, &caller.UserID, "auth.reauthenticate"); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.store.UserByID(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if u.PasswordHash == nil {
		s.auditFailure(c, &u.ID, "auth.reauthenticate", map[string]any{"reason": "no_password"})
		s.fail(c, models.Errorf(models.ErrForbidden, "PASSWORD_NOT_SET",
			"this account has no password; sign in again with single sign-on (GET /v1/auth/oidc/login)"))
		return
	}
	if !auth.CheckPassword(req.Password, u.PasswordHash) {
		s.auditFailure(c, &u.ID, "auth.reauthenticate", map[string]any{"reason": "password"})
		s.fail(c, models.Errorf(models.ErrForbidden, "INVALID_PASSWORD", "the password is not correct"))
		return
	}
	if err := s.store.FinishLogin(ctx, u.Username); err != nil {
		s.fail(c, err)
		return
	}
	now := s.now().Truncate(time.Second)
	if err := s.store.RenewAuthTime(ctx, caller.SessionID, now); err != nil {
		s.fail(c, err)
		return
	}
	access, exp, err := s.tokens.IssueAccessAt(u.ID, caller.SessionID, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	csrf := s.tokens.CSRFToken(caller.SessionID)
	if caller.Method == models.AuthCookie {
		s.setCookie(c, &http.Cookie{Name: accessCookie, Value: access, Path: "/", MaxAge: int(time.Until(exp).Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
		s.setCSRFCookie(c, csrf)
	}
	s.audit(c, &u.ID, "auth.reauthenticate", "session", caller.SessionID.String(), nil)
	c.JSON(http.StatusOK, loginResponse{User: toUserJSON(u), CSRFToken: csrf, AccessToken: access, TokenType: "Bearer",
		ExpiresAt: exp, AuthTime: &now})
}

// logout ends the login: the refresh-token family is revoked, which also invalidates every
// access token of that login on its next use, and the cookies are cleared.
func (s *Server) logout(c *gin.Context) {
	ctx := c.Request.Context()
	var sid uuid.UUID
	var userID *uuid.UUID
	if v, ok := c.Get(callerKey); ok {
		caller := v.(models.Caller)
		if caller.Method == models.AuthCookie {
			if err := s.checkCSRF(c, caller.SessionID); err != nil {
				s.fail(c, err)
				return
			}
		}
		sid, userID = caller.SessionID, &caller.UserID
	} else if token, err := c.Cookie(refreshCookie); err == nil && token != "" {
		rt, err := s.store.RefreshTokenByHash(ctx, auth.HashSecret(token))
		if err == nil {
			if err := s.checkCSRF(c, rt.FamilyID); err != nil {
				s.fail(c, err)
				return
			}
			sid, userID = rt.FamilyID, &rt.UserID
		} else if !errors.Is(err, models.ErrNotFound) {
			s.fail(c, err)
			return
		}
	}
	if sid != uuid.Nil {
		if err := s.store.RevokeFamily(ctx, sid, s.now()); err != nil {
			s.fail(c, err)
			return
		}
		s.audit(c, userID, "auth.logout", "session", sid.String(), nil)
	}
	s.clearAuthCookies(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	u, err := s.store.UserByID(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	groups, err := s.store.GroupsOf(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := meJSON{userJSON: toUserJSON(u), Groups: make([]userGroupJSON, 0, len(groups)), AuthMethod: caller.Method}
	for _, g := range groups {
		out.Groups = append(out.Groups, userGroupJSON{ID: g.ID, Name: g.Name, Role: g.Role})
	}
	c.JSON(http.StatusOK, out)
}

// csrfToken issues a fresh CSRF token for the caller's login (and sets the cookie to match).
func (s *Server) csrfToken(c *gin.Context) {
	caller := callerOf(c)
	if caller.SessionID == uuid.Nil {
		s.fail(c, models.Errorf(models.ErrInvalid, "CSRF_NOT_APPLICABLE", "API-key requests need no CSRF token"))
		return
	}
	token := s.tokens.CSRFToken(caller.SessionID)
	s.setCSRFCookie(c, token)
	c.JSON(http.StatusOK, gin.H{"csrf_token": token})
}

func (s *Server) account(c *gin.Context) {
	u, err := s.store.UserByID(c.Request.Context(), callerOf(c).UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserJSON(u))
}

type apiKeyJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	LastFour   string     `json:"last_four"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	CreatedAt  time.Time  `json:"created_at"`
	// Key is the secret, present only in the response that creates the key.
	Key string `json:"key,omitempty"`
}

func toAPIKeyJSON(k *models.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, LastFour: k.LastFour, Scopes: append([]string{}, k.Scopes...), ExpiresAt: k.ExpiresAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, CreatedAt: k.CreatedAt}
}

type createAPIKeyRequest struct {
	Name      string     `json:"name" binding:"required,min=1,max=100"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Scopes default to models.DefaultScopes (chat, documents, read: never admin) when absent.
	Scopes *[]string `json:"scopes"`
}

// keyScopes checks the requested scopes and returns them deduplicated in the order of
// models.AllScopes; nil asks for the default ones.
func keyScopes(req *[]string) (models.Strings, error) {
	want := models.DefaultScopes
	if req != nil {
		if len(*req) == 0 {
			return nil, models.Invalid("scopes", "scopes must name at least one of chat, documents, read, admin")
		}
		want = nil
		for _, name := range *req {
			sc := models.Scope(name)
			if !slices.Contains(models.AllScopes, sc) {
				return nil, models.Invalid("scopes", "scopes: unknown scope %q (use chat, documents, read or admin)", truncate(name, 40))
			}
			want = append(want, sc)
		}
	}
	var out models.Strings
	for _, sc := range models.AllScopes {
		if slices.Contains(want, sc) {
			out = append(out, string(sc))
		}
	}
	return out, nil
}

func (s *Server) createAPIKey(c *gin.Context) {
	caller := callerOf(c)
	var req createAPIKeyRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()) {
		s.fail(c, models.Invalid("expires_at", "expires_at must be in the future"))
		return
	}
	scopes, err := keyScopes(req.Scopes)
	if err != nil {
		s.fail(c, err)
		return
	}
	id := uuid.New()
	key, hash, lastFour := auth.NewAPIKey(id)
	k := &models.APIKey{ID: id, Name: strings.TrimSpace(req.Name), SecretHash: hash, LastFour: lastFour, Scopes: scopes,
		ExpiresAt: req.ExpiresAt}
	if err := s.store.CreateAPIKey(c.Request.Context(), caller, k); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "api_key.create", "api_key", k.ID.String(), map[string]any{"name": k.Name, "scopes": []string(k.Scopes)})
	out := toAPIKeyJSON(k)
	out.Key = key
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listAPIKeys(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	keys, err := s.store.APIKeys(c.Request.Context(), callerOf(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	keys, next := store.Trim(keys, page.Limit, func(k models.APIKey) store.Cursor { return store.Cursor{T: k.CreatedAt, ID: k.ID} })
	out := make([]apiKeyJSON, 0, len(keys))
	for i := range keys {
		out = append(out, toAPIKeyJSON(&keys[i]))
	}
	c.JSON(http.StatusOK, newList(out, next))
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "API_KEY", "API key")
	if err != nil {
		s.fail(c, err)
		return
	}
	k, err := s.store.RevokeAPIKey(c.Request.Context(), caller, id, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "api_key.revoke", "api_key", k.ID.String(), nil)
	c.Status(http.StatusNoContent)
}

// pathID parses a UUID path parameter; a malformed one is "not found" like any unknown id.
func pathID(c *gin.Context, param, code, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		return uuid.Nil, models.NotFound(code, what)
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
