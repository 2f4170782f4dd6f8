package api

import (
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

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

// oidcLogin redirects the browser to the identity provider.
func (s *Server) oidcLogin(c *gin.Context) {
	p, err := s.oidc(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	authURL, cookie, err := p.Begin(c.Query("return_to"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.setCookie(c, &http.Cookie{Name: oidcStateCookie, Value: cookie, Path: oidcCookiePath, MaxAge: int(sso.StateTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusFound, authURL)
}

// oidcCallback finishes the login: the user is found, linked (verified email) or created, their
// provider groups synced, and a login session started; the browser goes back to return_to.
func (s *Server) oidcCallback(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := s.oidc(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	cookie, _ := c.Cookie(oidcStateCookie)
	s.setCookie(c, &http.Cookie{Name: oidcStateCookie, Path: oidcCookiePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	id, returnTo, err := p.Finish(ctx, c.Request.URL.Query(), cookie)
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
