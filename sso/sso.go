// Package sso signs users in with an OpenID Connect provider (Authentik is the reference) using the
// authorization code flow with PKCE, and parses the headers that an authenticating proxy sets in
// trusted-header mode. It knows nothing of accounts: callers map the returned Identity to a user.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The errors Finish returns, to test with errors.Is. Their messages are safe to show to the user;
// the wrapping error adds the reason, for logs only.
var (
	// ErrState: no login in progress in this browser, or the callback does not belong to it
	// (missing, forged, expired or mismatched state). The user should start again.
	ErrState = errors.New("sign-in session expired or invalid; please start again")
	// ErrToken: the provider's answer could not be verified (code exchange refused, ID token
	// invalid) or the provider reported a failure other than a denial.
	ErrToken = errors.New("sign-in with the identity provider failed")
	// ErrDenied: the provider did not sign the user in (the user cancelled or has no access).
	ErrDenied = errors.New("sign-in was denied by the identity provider")
)

// StateTTL is how long a login started by Begin may take; the state cookie should expire then too.
const StateTTL = 10 * time.Minute

// Config configures a Provider.
type Config struct {
	Issuer       string // e.g. https://authentik.example/application/o/youworker/
	ClientID     string
	ClientSecret string   // "" for a public client (PKCE only)
	RedirectURL  string   // PUBLIC_URL + "/v1/auth/oidc/callback"
	Scopes       []string // default openid, profile, email (+ "groups" if GroupsClaim is set)
	GroupsClaim  string   // ID token claim holding the groups, e.g. "groups"; "" = no groups
	// GroupMap maps a provider group name to a YouWorker group name; groups not in it keep their
	// name.
	GroupMap map[string]string
	// AllowedGroups, when non-empty, lists the provider group names to sync; groups that are
	// neither listed here nor keys of GroupMap are dropped. Empty = every group.
	AllowedGroups []string
	StateKey      []byte // HMAC key for the state cookie, at least 32 bytes
	// PreviousStateKey, when set, still opens state cookies (a rotation); it never signs.
	PreviousStateKey []byte
	HTTPClient       *http.Client // for discovery, keys and token exchange; default: 10 s timeout
}

// Identity is who the provider (or the trusted proxy) says the user is. Issuer and Subject
// identify the user; the other fields may change between logins.
type Identity struct {
	Issuer, Subject string
	Email           string // "" when absent or not an address
	EmailVerified   bool
	// Username is preferred_username, else the email's local part, sanitised to
	// [A-Za-z0-9._-], starting with a letter or digit, 3..64 characters. When neither yields a
	// valid name it is "user-" and a hash of issuer and subject. It is not unique: two provider
	// accounts may sanitise to the same name.
	Username string
	Name     string // display name, at most 100 characters, may be ""
	// Groups are mapped and filtered as configured, deduplicated, in provider order. nil means
	// groups are not known (not configured, or the header is missing): leave memberships alone;
	// non-nil, even empty, is the complete list to sync.
	Groups []string
}

// Provider runs logins against one OpenID Connect provider. It is safe for concurrent use.
type Provider struct {
	oauth       oauth2.Config
	verifier    *oidc.IDTokenVerifier
	client      *http.Client
	stateKeys   [][]byte // the first signs, every one verifies
	groupsClaim string
	groups      groupFilter
	now         func() time.Time
}

const minStateKey = 32

// New discovers the provider's endpoints and keys location. The context bounds discovery only.
// An issuer that differs from the discovered one only by a trailing slash is accepted (Authentik's
// issuer ends with one).
func New(ctx context.Context, c Config) (*Provider, error) {
	switch {
	case c.Issuer == "":
		return nil, errors.New("sso: issuer is required")
	case c.ClientID == "":
		return nil, errors.New("sso: client id is required")
	case len(c.StateKey) < minStateKey:
		return nil, fmt.Errorf("sso: state key must be at least %d bytes", minStateKey)
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("sso: redirect url %q must be an absolute http(s) URL", c.RedirectURL)
	}
	client := c.HTTPClient
	if client == nil {
		// JWKS refreshes run in the background on this client; without a timeout a stuck fetch
		// would hold every later verification until the caller's context ends.
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ctx = oidc.ClientContext(ctx, client)
	op, err := oidc.NewProvider(ctx, c.Issuer)
	var mismatch *oidc.IssuerMismatchError
	if errors.As(err, &mismatch) && strings.TrimSuffix(mismatch.Discovered, "/") == strings.TrimSuffix(c.Issuer, "/") {
		op, err = oidc.NewProvider(ctx, mismatch.Discovered)
	}
	if err != nil {
		return nil, fmt.Errorf("sso: discover %s: %w", c.Issuer, err)
	}

	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("sso: read discovery document: %w", err)
	}
	endpoint := op.Endpoint()
	// client_secret_basic is the default when the provider lists nothing (OIDC Discovery 1.0 §3);
	// choosing here spares oauth2's auto-detection a second token request after a refusal.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	if c.ClientSecret == "" || len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") &&
		slices.Contains(meta.AuthMethods, "client_secret_post") {
		// A public client (no secret, PKCE only) sends just its client_id in the form.
		endpoint.AuthStyle = oauth2.AuthStyleInParams
	}

	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
		if c.GroupsClaim != "" {
			scopes = append(scopes, "groups")
		}
	} else if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}

	p := &Provider{
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  c.RedirectURL,
			Scopes:       scopes,
		},
		client:      client,
		stateKeys:   [][]byte{deriveStateKey(c.StateKey, c.Issuer, c.ClientID)},
		groupsClaim: c.GroupsClaim,
		groups:      newGroupFilter(c.GroupMap, c.AllowedGroups),
		now:         time.Now,
	}
	if len(c.PreviousStateKey) > 0 {
		p.stateKeys = append(p.stateKeys, deriveStateKey(c.PreviousStateKey, c.Issuer, c.ClientID))
	}
	p.verifier = op.Verifier(&oidc.Config{ClientID: c.ClientID, Now: func() time.Time { return p.now() }})
	return p, nil
}

// Begin starts a login. It returns the provider URL to redirect the browser to, and the value of
// the state cookie the caller must set and hand back to Finish: HttpOnly, Secure, Max-Age
// StateTTL, path of the callback, and SameSite=Lax, not Strict, since the provider's redirect to
// the callback is a cross-site navigation. returnTo is where to go after the login; anything but
// a local path becomes "/".
func (p *Provider) Begin(returnTo string) (authURL string, cookieValue string, err error) {
	return p.BeginLink(returnTo, "")
}

// BeginLink is Begin for a user who is signed in to account (opaque to this package) and asks to
// link their provider identity to it. The account travels in the signed state cookie and comes
// back in Login.Link, so the callback knows the login was asked for by that account, in this browser.
func (p *Provider) BeginLink(returnTo, account string) (authURL string, cookieValue string, err error) {
	st := loginState{
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: safeReturnTo(returnTo),
		Expires:  p.now().Add(StateTTL).Unix(),
		Link:     account,
	}
	cookieValue, err = p.sealState(st)
	if err != nil {
		return "", "", err
	}
	authURL = p.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return authURL, cookieValue, nil
}

// denials are the authorization error codes that mean the user was not signed in, as opposed to
// the provider failing.
var denials = []string{"access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"}

// Login is a completed login: who signed in, where to send them, and, for a login started by
// BeginLink, the account that asked to link the identity.
type Login struct {
	Identity
	ReturnTo string
	Link     string // "" for a plain login
}

// Finish completes the login from the callback's query and the state cookie set by Begin. It
// returns the user's identity and the local path to send them to. The caller should delete the
// state cookie whatever the outcome: the provider refuses a code twice, but the cookie itself
// stays valid until it expires.
func (p *Provider) Finish(ctx context.Context, query url.Values, cookieValue string) (Identity, string, error) {
	st, err := p.openState(cookieValue)
	if err != nil {
		return Identity{}, "", err
	}
	if got := query.Get("state"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: state parameter does not match the cookie", ErrState)
	}
	if code := query.Get("error"); code != "" {
		reason := fmt.Sprintf("provider error %.64q: %.200q", code, query.Get("error_description"))
		if slices.Contains(denials, code) {
			return Identity{}, "", fmt.Errorf("%w: %s", ErrDenied, reason)
		}
		return Identity{}, "", fmt.Errorf("%w: %s", ErrToken, reason)
	}
	code := query.Get("code")
	if code == "" {
		return Identity{}, "", fmt.Errorf("%w: callback has no code", ErrToken)
	}

	ctx = oidc.ClientContext(ctx, p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: exchange code: %w", ErrToken, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, "", fmt.Errorf("%w: token response has no id_token", ErrToken)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: verify id token: %w", ErrToken, err)
	}
	// go-oidc leaves the nonce to the caller.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: id token nonce does not match", ErrToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, "", fmt.Errorf("%w: %w", ErrToken, err)
		}
	}
	if idt.Subject == "" {
		return Identity{}, "", fmt.Errorf("%w: id token has no subject", ErrToken)
	}
	id, err := p.identity(idt)
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: %w", ErrToken, err)
	}
	return id, safeReturnTo(st.ReturnTo), nil
}

// FinishLogin is Finish returning the whole Login, with the account that asked to link (BeginLink).
func (p *Provider) FinishLogin(ctx context.Context, query url.Values, cookieValue string) (Login, error) {
	id, returnTo, err := p.Finish(ctx, query, cookieValue)
	if err != nil {
		return Login{}, err
	}
	st, err := p.openState(cookieValue) // Finish has just checked it
	if err != nil {
		return Login{}, err
	}
	return Login{Identity: id, ReturnTo: returnTo, Link: st.Link}, nil
}

// safeReturnTo returns s when it is a path on this site ("/app?x=1"), and "/" for anything a
// browser could take to another site (absolute or scheme-relative URLs, backslashes, control
// characters, javascript: and other schemes) or that is longer than 1024 bytes.
func safeReturnTo(s string) string {
	const fallback = "/"
	if s == "" || len(s) > 1024 || s[0] != '/' {
		return fallback
	}
	for i := 0; i < len(s); i++ {
		// Browsers drop tabs and newlines and read '\' as '/', so "/\t/evil" and "/\evil" lead off site.
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, `/\`) {
		// "/%2F%2Fevil.com" is local, but a front end that decodes it and navigates would not be.
		return fallback
	}
	return s
}
