// Package auth issues and verifies YouWorker's credentials: argon2id password hashes, short-lived
// JWT access tokens, opaque rotating refresh tokens, API keys and CSRF tokens.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/youworker/youworker/keyring"
)

// ErrInvalidToken is returned for every token that fails verification; the reason is wrapped for
// logs but never shown to clients.
var ErrInvalidToken = errors.New("invalid token")

// passwordParams follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashPassword returns the argon2id PHC string of password.
func HashPassword(password string) (string, error) {
	return argon2id.CreateHash(password, passwordParams)
}

// dummyHash is verified against when a username does not exist, so that a failed login costs
// the same time whether or not the user exists.
var dummyHash = func() string {
	h, err := HashPassword("youworker-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
}()

// CheckPassword reports whether password matches hash. A nil hash (unknown user or SSO-only
// account) is checked against a dummy hash and never matches.
func CheckPassword(password string, hash *string) bool {
	if hash == nil {
		_, _ = argon2id.ComparePasswordAndHash(password, dummyHash)
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, *hash)
	return err == nil && ok
}

// Tokens signs and verifies access tokens and CSRF tokens, each with its own key derived from
// the secret (keyring): the current secret's keys sign, those of a previous secret still verify.
type Tokens struct {
	keys     keyring.Ring // access tokens; a token names its key in the kid header
	csrfKeys keyring.Ring
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewTokens returns a token service. secret must be at least 32 bytes; previous are secrets being
// rotated out, whose tokens still verify.
func NewTokens(secret, issuer, audience string, ttl time.Duration, previous ...string) *Tokens {
	return &Tokens{
		keys:     keyring.New(keyring.AccessToken, secret, previous...),
		csrfKeys: keyring.New(keyring.CSRF, secret, previous...),
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		now:      time.Now,
	}
}

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	// SessionID is the refresh-token family of the login; logout revokes it.
	SessionID string `json:"sid"`
	Type      string `json:"typ"`
	// AuthTime is when the user of the login last proved who they are (OIDC's auth_time).
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
}

const accessType = "access"

// maxTokenLen bounds what the parser is asked to read.
const maxTokenLen = 4096

// IssueAccess signs an access token for user in login session sid, whose user proved who they
// are just now, and returns it with its expiry.
func (t *Tokens) IssueAccess(userID, sid uuid.UUID) (string, time.Time, error) {
	return t.IssueAccessAt(userID, sid, t.now())
}

// IssueAccessAt signs an access token for user in login session sid, whose user last proved who
// they are at authTime (the auth_time claim), and returns it with its expiry.
func (t *Tokens) IssueAccessAt(userID, sid uuid.UUID, authTime time.Time) (string, time.Time, error) {
	now := t.now().UTC()
	exp := now.Add(t.ttl)
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID.String(),
			Issuer:    t.issuer,
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
		SessionID: sid.String(),
		AuthTime:  authTimeClaim(authTime),
		Type:      accessType,
	}
	s, err := signWithKid(claims, t.keys.Signing())
	return s, exp, err
}

// VerifyAccess checks an access token's signature (HS256 only), expiry (required), issuer,
// audience and type, and returns the user and login session ids.
func (t *Tokens) VerifyAccess(token string) (userID, sid uuid.UUID, err error) {
	if len(token) > maxTokenLen {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	var claims AccessClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(t.now),
	)
	_, err = p.ParseWithClaims(token, &claims, keyByKid(t.keys))
	if err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.Type != accessType {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%w: not an access token", ErrInvalidToken)
	}
	userID, err1 := uuid.Parse(claims.Subject)
	sid, err2 := uuid.Parse(claims.SessionID)
	if err1 != nil || err2 != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("%w: malformed subject or session", ErrInvalidToken)
	}
	return userID, sid, nil
}

// VerifyAccessAuthTime is VerifyAccess that also returns the token's auth_time (zero when the
// token has none).
func (t *Tokens) VerifyAccessAuthTime(token string) (userID, sid uuid.UUID, authTime time.Time, err error) {
	userID, sid, err = t.VerifyAccess(token)
	if err != nil {
		return uuid.Nil, uuid.Nil, time.Time{}, err
	}
	// The signature and claims were just verified; this only reads them again.
	var claims AccessClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return uuid.Nil, uuid.Nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if claims.AuthTime != nil {
		authTime = claims.AuthTime.UTC()
	}
	return userID, sid, authTime, nil
}

// authTimeClaim is the auth_time claim of authTime; none when it is unknown (zero).
func authTimeClaim(authTime time.Time) *jwt.NumericDate {
	if authTime.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(authTime)
}

// signWithKid signs claims with HS256 under key, naming the key in the kid header.
func signWithKid(claims jwt.Claims, key []byte) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = keyring.ID(key)
	return tok.SignedString(key)
}

// keyByKid picks the verification key a token names in its kid header; a token without a kid or
// with one of no configured key fails.
func keyByKid(keys keyring.Ring) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys.Lookup(kid); ok {
			return k, nil
		}
		return nil, errors.New("unknown key id")
	}
}

// NewRefreshToken returns a fresh opaque refresh token and the hash to store.
func NewRefreshToken() (token string, hash []byte) {
	token = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, HashSecret(token)
}

// HashSecret is the SHA-256 of a high-entropy secret (refresh tokens, API key secrets). Such
// secrets need no slow hash: they cannot be guessed.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// API keys look like yw_<32 hex id>_<64 hex secret>.
const apiKeyPrefix = "yw_"

// NewAPIKey returns a key for id, its secret's hash and the last four characters to display.
func NewAPIKey(id uuid.UUID) (key string, hash []byte, lastFour string) {
	secret := hex.EncodeToString(randomBytes(32))
	key = apiKeyPrefix + hex.EncodeToString(id[:]) + "_" + secret
	return key, HashSecret(secret), secret[len(secret)-4:]
}

// LooksLikeAPIKey says whether a credential is an API key (by its prefix) rather than an access
// token: clients such as the OpenAI SDKs send any key as "Authorization: Bearer <key>".
func LooksLikeAPIKey(s string) bool { return strings.HasPrefix(s, apiKeyPrefix) }

// ParseAPIKey splits a key into its id and secret.
func ParseAPIKey(key string) (uuid.UUID, string, error) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	idHex, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(idHex) != 32 || len(secret) != 64 {
		return uuid.Nil, "", fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	raw, err := hex.DecodeString(idHex)
	if err != nil {
		return uuid.Nil, "", fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return uuid.Nil, "", fmt.Errorf("%w: malformed API key", ErrInvalidToken)
	}
	id, _ := uuid.FromBytes(raw)
	return id, secret, nil
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	return hmac.Equal(HashSecret(secret), hash)
}

// CSRFToken returns a signed double-submit token bound to login session sid:
// base64url(nonce || HMAC(key, sid || nonce)).
func (t *Tokens) CSRFToken(sid uuid.UUID) string {
	nonce := randomBytes(16)
	return base64.RawURLEncoding.EncodeToString(append(nonce, csrfMAC(t.csrfKeys.Signing(), sid, nonce)...))
}

// CheckCSRF reports whether token was issued by CSRFToken for sid (with the current or a previous
// secret).
func (t *Tokens) CheckCSRF(token string, sid uuid.UUID) bool {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 16+sha256.Size {
		return false
	}
	for _, k := range t.csrfKeys {
		if hmac.Equal(raw[16:], csrfMAC(k, sid, raw[:16])) {
			return true
		}
	}
	return false
}

func csrfMAC(key []byte, sid uuid.UUID, nonce []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(sid[:])
	mac.Write(nonce)
	return mac.Sum(nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}
