package api

import (
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/keyring"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/sso"
	"github.com/youworker/youworker/store"
)

const (
	oidcStateCookie = "yw_oidc_state"
	oidcCookiePath  = "/v1/auth/oidc"
)

// oidcProvider connects to the identity provider on first use (and again after a failure), so the
// API starts even when the provider is briefly down.
type oidcProvider struct {
	mu  sync.Mutex
	cfg sso.Config
	p   *sso.Provider
}

func (s *Server) oidc(c *gin.Context) (*sso.Provider, error) {
	if s.sso == nil {
		return nil, models.Errorf(models.ErrNotFound, "ROUTE_NOT_FOUND", "single sign-on is not configured")
	}
	s.sso.mu.Lock()
	defer s.sso.mu.Unlock()
	if s.sso.p == nil {
		p, err := sso.New(c.Request.Context(), s.sso.cfg)
		if err != nil {
			return nil, models.Errorf(models.ErrUnavailable, "SSO_UNAVAILABLE", "the identity provider is unavailable").Wrap(err)
		}
		s.sso.p = p
	}
	return s.sso.p, nil
}

func (s *Server) newOIDC() *oidcProvider {
	if s.cfg.OIDCIssuer == "" {
		return nil
	}
	keys := keyring.New(keyring.SSOState, s.cfg.JWTSecret, s.cfg.JWTPrevious)
	c := sso.Config{Issuer: s.cfg.OIDCIssuer, ClientID: s.cfg.OIDCClientID, ClientSecret: s.cfg.OIDCSecret,
		RedirectURL: strings.TrimRight(s.cfg.PublicURL, "/") + "/v1/auth/oidc/callback", GroupsClaim: s.cfg.OIDCGroupsClaim,
		AllowedGroups: s.cfg.OIDCGroups, StateKey: keys.Signing()}
	if len(keys) > 1 {
		c.PreviousStateKey = keys[1]
	}
	return &oidcProvider{cfg: c}
}

// oidcLogin redirects the browser to the identity provider. With link=true a logged-in user asks
// to link their provider identity to their account (see linkRequest); the callback then links
// instead of logging in.
func (s *Server) oidcLogin(c *gin.Context) {
	p, err := s.oidc(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var link string
	switch c.Query("link") {
	case "", "false":
	case "true":
		if link, err = s.linkRequest(c); err != nil {
			s.fail(c, err)
			return
		}
	default:
		s.fail(c, models.Invalid("link", "link must be true or false"))
		return
	}
	authURL, cookie, err := p.BeginLink(c.Query("return_to"), link)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.setCookie(c, &http.Cookie{Name: oidcStateCookie, Value: cookie, Path: oidcCookiePath, MaxAge: int(sso.StateTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusFound, authURL)
}

// linkRequest checks that the caller may link a provider identity to their account and returns
// what the state cookie carries to the callback: their user and login. Linking adds a way into
// the account, so it takes what minting an API key takes: a login (never an API key or the proxy)
// that proved its user within REAUTH_WINDOW, and a request not started by another site.
func (s *Server) linkRequest(c *gin.Context) (string, error) {
	v, ok := c.Get(callerKey)
	if !ok {
		return "", unauthenticated("UNAUTHENTICATED", "log in first to link single sign-on to your account")
	}
	caller := v.(models.Caller)
	if err := s.requireFresh(caller); err != nil {
		return "", err
	}
	if caller.SessionID == uuid.Nil {
		return "", models.Errorf(models.ErrForbidden, "LINK_NOT_APPLICABLE", "only a login (cookie or bearer token) can link single sign-on")
	}
	if c.GetHeader("Sec-Fetch-Site") == "cross-site" {
		return "", models.Errorf(models.ErrForbidden, "CROSS_SITE_REQUEST", "cross-site requests are not allowed")
	}
	return caller.UserID.String() + ":" + caller.SessionID.String(), nil
}

// oidcCallback finishes the login: the user is found, linked (verified email on both sides) or
// created, their provider groups synced, and a login session started; the browser goes back to
// return_to. A login started with link=true links the identity to the account that asked instead.
func (s *Server) oidcCallback(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := s.oidc(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cookie, _ := c.Cookie(oidcStateCookie)
	s.setCookie(c, &http.Cookie{Name: oidcStateCookie, Path: oidcCookiePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	login, err := p.FinishLogin(ctx, c.Request.URL.Query(), cookie)
	id, returnTo := login.Identity, login.ReturnTo
	if err != nil {
		s.auditFailure(c, nil, "auth.login.oidc", map[string]any{"reason": ssoReason(err)})
		switch {
		case errors.Is(err, sso.ErrDenied):
			s.fail(c, models.Errorf(models.ErrForbidden, "SSO_DENIED", "%s", sso.ErrDenied.Error()))
		case errors.Is(err, sso.ErrState), errors.Is(err, sso.ErrToken):
			s.fail(c, models.Errorf(models.ErrUnauthenticated, "SSO_FAILED", "single sign-on failed; please try again"))
		default:
			s.fail(c, err)
		}
		return
	}
	if login.Link != "" {
		s.linkIdentity(c, login)
		return
	}
	u, err := s.store.UpsertSSOUser(ctx, store.SSOUser{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		EmailVerified: id.EmailVerified, Username: id.Username, Name: id.Name, Groups: id.Groups, ManagedGroups: s.cfg.OIDCGroups})
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.startLogin(c, u); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &u.ID, "auth.login.oidc", "user", u.ID.String(), map[string]any{"issuer": id.Issuer})
	c.Redirect(http.StatusFound, returnTo)
}

// linkIdentity links the provider identity of a login started with link=true to the account
// whose login asked for it, if that login is still active; the browser goes back to return_to.
// An identity that is another account's is a 409, like an account linked to another identity.
func (s *Server) linkIdentity(c *gin.Context, login sso.Login) {
	ctx := c.Request.Context()
	ended := unauthenticated("SESSION_ENDED", "the login that asked to link has ended; log in again")
	user, sid, ok := strings.Cut(login.Link, ":")
	userID, err1 := uuid.Parse(user)
	sessionID, err2 := uuid.Parse(sid)
	if !ok || err1 != nil || err2 != nil {
		s.fail(c, ended)
		return
	}
	st, err := s.store.LoadCaller(ctx, userID, sessionID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !st.SessionActive) {
		s.fail(c, ended)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	id := login.Identity
	u, err := s.store.LinkSSOIdentity(ctx, userID, store.SSOUser{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		EmailVerified: id.EmailVerified, Username: id.Username, Name: id.Name, Groups: id.Groups, ManagedGroups: s.cfg.OIDCGroups})
	if err != nil {
		if errors.Is(err, models.ErrConflict) {
			s.auditFailure(c, &userID, "auth.oidc.link", map[string]any{"issuer": id.Issuer, "reason": "conflict"})
		}
		s.fail(c, err)
		return
	}
	s.audit(c, &u.ID, "auth.oidc.link", "user", u.ID.String(), map[string]any{"issuer": id.Issuer})
	c.Redirect(http.StatusFound, login.ReturnTo)
}

func ssoReason(err error) string {
	switch {
	case errors.Is(err, sso.ErrDenied):
		return "denied"
	case errors.Is(err, sso.ErrState):
		return "state"
	case errors.Is(err, sso.ErrToken):
		return "token"
	}
	return "error"
}

// fromTrustedProxy reports whether the connection itself comes from a configured proxy (never
// from what a header claims).
func (s *Server) fromTrustedProxy(c *gin.Context) bool {
	return s.trustedProxies.Contains(c.RemoteIP())
}

// identifyProxyHeaders authenticates a request an authenticating proxy (Authentik's outpost)
// vouched for, when TRUSTED_HEADER_AUTH is on and the connection comes from TRUSTED_PROXIES.
func (s *Server) identifyProxyHeaders(c *gin.Context) (*models.Caller, bool, error) {
	if !s.cfg.TrustedHeaders || !s.fromTrustedProxy(c) {
		return nil, false, nil
	}
	id, ok := sso.IdentityFromHeaders(c.Request.Header, sso.HeaderConfig{})
	if !ok {
		return nil, false, nil
	}
	u, err := s.store.UpsertSSOUser(c.Request.Context(), store.SSOUser{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email,
		Username: id.Username, Name: id.Name, Groups: id.Groups})
	if err != nil {
		return nil, true, err
	}
	groups, err := s.store.Memberships(c.Request.Context(), u.ID)
	if err != nil {
		return nil, true, err
	}
	return &models.Caller{UserID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, Method: models.AuthProxy, Groups: groups}, true, nil
}
