// Package ssotest runs an in-process OpenID Connect provider for tests: discovery, JWKS, an
// /authorize endpoint without UI that signs in the user set with SetUser at once, and a /token
// endpoint that checks the client, the code, the redirect URI and the PKCE verifier. Faults make
// it misbehave the way a broken or hostile provider would.
package ssotest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// User is the account the provider signs in.
type User struct {
	Subject           string
	Email             string
	EmailVerified     bool
	PreferredUsername string
	Name              string
	Groups            []string // sent as the "groups" claim when the profile or groups scope is asked for
	// Claims are added to the ID token last and replace the ones above, e.g. {"groups": "admins"}.
	// A nil value removes the claim.
	Claims map[string]any
}

// Fault makes the provider misbehave.
type Fault int

const (
	// NoFault: behave.
	NoFault Fault = iota
	// WrongAudience: the ID token is for another client.
	WrongAudience
	// Expired: the ID token expired a minute ago.
	Expired
	// WrongNonce: the ID token carries a nonce other than the one asked for.
	WrongNonce
	// ForeignKey: the ID token is signed by a key that is not in the JWKS (with the real key id).
	ForeignKey
	// AlgNone: the ID token is unsigned, with "alg": "none".
	AlgNone
	// WrongIssuer: the ID token names another issuer.
	WrongIssuer
	// Deny: /authorize redirects back with error=access_denied.
	Deny
)

// Option configures New.
type Option func(*Server)

// WithIssuerPath serves the issuer below path, e.g. "/application/o/youworker/" as Authentik
// does; the issuer then ends with the same slash as path. Default: the server's root, no slash.
func WithIssuerPath(path string) Option {
	return func(s *Server) { s.issuerPath = path }
}

// WithClient sets the one registered client. Default: "youworker" / "ssotest-secret".
func WithClient(id, secret string) Option {
	return func(s *Server) { s.clientID, s.clientSecret = id, secret }
}

// Server is the provider. Its methods are safe for concurrent use.
type Server struct {
	srv                    *httptest.Server
	issuerPath             string
	clientID, clientSecret string
	key                    *rsa.PrivateKey
	kid                    string

	mu            sync.Mutex
	foreign       *rsa.PrivateKey // made on first use
	user          *User
	fault         Fault
	codes         map[string]grant
	tokenRequests int
}

type grant struct {
	redirectURI string
	challenge   string
	nonce       string
	scopes      []string
	user        User
	expires     time.Time
}

// New starts a provider that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{clientID: "youworker", clientSecret: "ssotest-secret", codes: map[string]grant{}}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatalf("ssotest: generate key: %v", err)
	}
	s.kid = rand.Text()[:8]

	mux := http.NewServeMux()
	wellKnown := strings.TrimSuffix(s.issuerPath, "/") + "/.well-known/openid-configuration"
	mux.HandleFunc("GET "+wellKnown, s.discovery)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// Issuer is the issuer URL to configure the client with.
func (s *Server) Issuer() string { return s.srv.URL + s.issuerPath }

// ClientID is the registered client's id.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret is the registered client's secret.
func (s *Server) ClientSecret() string { return s.clientSecret }

// SetUser sets who /authorize signs in; until it is called, /authorize answers login_required.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = &u
}

// SetFault makes the provider misbehave from the next request on.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// TokenRequests counts the requests /token has received.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	base := s.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.Issuer(),
		"authorization_endpoint":                base + "/authorize",
		"token_endpoint":                        base + "/token",
		"jwks_uri":                              base + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "nonce", "email",
			"email_verified", "preferred_username", "name", "groups"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := s.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": s.kid,
		"n":   b64(pub.N.Bytes()),
		"e":   b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize answers like a provider whose user is already signed in and has consented. Requests
// it cannot redirect safely (unknown client, bad redirect_uri) get a 400 page, as at a real one.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != s.clientID || err != nil || !redirect.IsAbs() || redirect.Fragment != "" {
		http.Error(w, "unknown client or invalid redirect_uri", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		params.Set("state", q.Get("state"))
		rq := redirect.Query()
		for k, v := range params {
			rq[k] = v
		}
		redirect.RawQuery = rq.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }

	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only the code flow is supported")
		return
	case !slices.Contains(scopes, "openid"):
		fail("invalid_scope", "openid scope required")
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		fail("invalid_request", "PKCE with S256 is required")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == Deny {
		fail("access_denied", "the user is not allowed to use this application")
		return
	}
	if s.user == nil {
		fail("login_required", "no user set with SetUser")
		return
	}
	code := rand.Text()
	s.codes[code] = grant{
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		scopes:      scopes,
		user:        *s.user,
		expires:     time.Now().Add(time.Minute),
	}
	back(url.Values{"code": {code}})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: form-encoded before Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenRequests++
	if id != s.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	g, ok := s.codes[code]
	delete(s.codes, code) // a code is good for one attempt
	switch {
	case !ok || time.Now().After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request")
		return
	case subtle.ConstantTimeCompare([]byte(challenge(r.PostForm.Get("code_verifier"))), []byte(g.challenge)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}

	access := rand.Text()
	idToken, err := s.idToken(g, access)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"scope":        strings.Join(g.scopes, " "),
		"id_token":     idToken,
	})
}

// idToken signs the grant's ID token, applying the fault. Callers hold s.mu.
func (s *Server) idToken(g grant, accessToken string) (string, error) {
	now := time.Now()
	u := g.user
	claims := jwt.MapClaims{
		"iss":     s.Issuer(),
		"sub":     u.Subject,
		"aud":     s.clientID,
		"iat":     now.Unix(),
		"exp":     now.Add(5 * time.Minute).Unix(),
		"nonce":   g.nonce,
		"at_hash": atHash(accessToken),
	}
	if slices.Contains(g.scopes, "email") {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if slices.Contains(g.scopes, "profile") {
		claims["preferred_username"] = u.PreferredUsername
		claims["name"] = u.Name
	}
	if u.Groups != nil && (slices.Contains(g.scopes, "profile") || slices.Contains(g.scopes, "groups")) {
		claims["groups"] = u.Groups
	}
	for k, v := range u.Claims {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}

	key := s.key
	switch s.fault {
	case WrongAudience:
		claims["aud"] = "someone-else"
	case Expired:
		claims["iat"] = now.Add(-6 * time.Minute).Unix()
		claims["exp"] = now.Add(-time.Minute).Unix()
	case WrongNonce:
		claims["nonce"] = rand.Text()
	case WrongIssuer:
		claims["iss"] = s.srv.URL + "/someone-else"
	case ForeignKey:
		if s.foreign == nil {
			var err error
			if s.foreign, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return "", err
			}
		}
		key = s.foreign
	case AlgNone:
		return jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	return t.SignedString(key)
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}

// atHash is OIDC Core §3.1.3.6's at_hash for RS256.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:len(sum)/2])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ssotest"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
