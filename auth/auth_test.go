package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/keyring"
)

const secret = "0123456789abcdef0123456789abcdef-test-secret"

// accessKey is the key access tokens are signed with: derived from the secret, never the secret.
var accessKey = keyring.Derive([]byte(secret), keyring.AccessToken)

func newTokens() *Tokens { return NewTokens(secret, "youworker", "youworker-api", 15*time.Minute) }

func TestAccessTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tk := newTokens()
	uid, sid := uuid.New(), uuid.New()
	tok, exp, err := tk.IssueAccess(uid, sid)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(15*time.Minute), exp, 5*time.Second)
	gotUID, gotSID, err := tk.VerifyAccess(tok)
	require.NoError(t, err)
	require.Equal(t, uid, gotUID)
	require.Equal(t, sid, gotSID)
}

// sign builds a token with arbitrary claims and method, as an attacker would, naming the access
// token key in its kid header.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	return signKid(t, method, key, keyring.ID(accessKey), claims)
}

func signKid(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": uuid.NewString(), "sid": uuid.NewString(), "typ": "access",
		"iss": "youworker", "aud": []string{"youworker-api"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	if v == nil {
		delete(c, k)
	}
	return c
}

func TestVerifyAccessRejectsForgedTokens(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: func() []byte {
		b, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		return b
	}()})
	valid := sign(t, jwt.SigningMethodHS256, accessKey, validClaims())
	parts := strings.Split(valid, ".")

	cases := []struct {
		name  string
		token string
	}{
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims())},
		{"alg none with valid header stripped signature", func() string {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			return hdr + "." + parts[1] + "."
		}()},
		{"HS/RS confusion: HS256 signed with the RSA public key", sign(t, jwt.SigningMethodHS256, pubPEM, validClaims())},
		{"RS256 token", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims())},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, accessKey, validClaims())},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims())},
		{"expired", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "exp", time.Now().Add(-time.Hour).Unix()))},
		{"missing exp", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "exp", nil))},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "aud", "someone-else"))},
		{"missing audience", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "aud", nil))},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "iss", "evil"))},
		{"not an access token", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "typ", "refresh"))},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "iat", time.Now().Add(time.Hour).Unix()))},
		{"subject not a uuid", sign(t, jwt.SigningMethodHS256, accessKey, with(validClaims(), "sub", "admin"))},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","typ":"access"}`)) + "." + parts[2]},
		{"truncated signature", valid[:len(valid)-5]},
		{"1000 dots", strings.Repeat(".", 1000)},
		{"huge token", strings.Repeat("a", 10000)},
		{"empty", ""},
		{"opaque refresh token", func() string { s, _ := NewRefreshToken(); return s }()},
		{"signed with the configured secret itself", sign(t, jwt.SigningMethodHS256, []byte(secret), validClaims())},
		{"right key, no kid", signKid(t, jwt.SigningMethodHS256, accessKey, "", validClaims())},
		{"right key, unknown kid", signKid(t, jwt.SigningMethodHS256, accessKey, "AAAAAAAA", validClaims())},
		{"forged kid: the raw secret under the key's kid", signKid(t, jwt.SigningMethodHS256, []byte(secret), keyring.ID(accessKey), validClaims())},
		{"the CSRF key under its own kid", func() string {
			k := keyring.Derive([]byte(secret), keyring.CSRF)
			return signKid(t, jwt.SigningMethodHS256, k, keyring.ID(k), validClaims())
		}()},
		{"the MCP identity key under its own kid", func() string {
			k := keyring.Derive([]byte(secret), keyring.MCPIdentity)
			return signKid(t, jwt.SigningMethodHS256, k, keyring.ID(k), validClaims())
		}()},
	}
	tk := newTokens()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := tk.VerifyAccess(tc.token)
			require.ErrorIs(t, err, ErrInvalidToken)
		})
	}
}

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery staple")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$"))
	require.True(t, CheckPassword("correct horse battery staple", &h))
	require.False(t, CheckPassword("correct horse battery stapler", &h))
	require.False(t, CheckPassword("anything", nil), "unknown users never match")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	key, hash, last4 := NewAPIKey(id)
	require.True(t, strings.HasPrefix(key, "yw_"))
	require.True(t, strings.HasSuffix(key, last4))
	gotID, secret, err := ParseAPIKey(key)
	require.NoError(t, err)
	require.Equal(t, id, gotID)
	require.True(t, SecretMatches(secret, hash))
	require.False(t, SecretMatches(strings.Repeat("0", 64), hash))

	for _, bad := range []string{"", "yw_", "yw_abc_def", "xx_" + key[3:], key + "0", strings.Replace(key, "_", "-", 2), "yw_" + strings.Repeat("g", 32) + "_" + strings.Repeat("0", 64)} {
		_, _, err := ParseAPIKey(bad)
		require.ErrorIs(t, err, ErrInvalidToken, bad)
	}
}

func TestCSRFTokenBoundToSession(t *testing.T) {
	t.Parallel()
	tk := newTokens()
	sid := uuid.New()
	tok := tk.CSRFToken(sid)
	require.True(t, tk.CheckCSRF(tok, sid))
	require.False(t, tk.CheckCSRF(tok, uuid.New()), "a token of another login")
	require.False(t, tk.CheckCSRF(tok[:len(tok)-2], sid), "truncated")
	require.False(t, tk.CheckCSRF("", sid))
	other := NewTokens("another-secret-another-secret-another", "youworker", "youworker-api", time.Minute)
	require.False(t, other.CheckCSRF(tok, sid), "signed with another key")
	require.NotEqual(t, tok, tk.CSRFToken(sid), "tokens are randomised")
}

// During a rotation (JWT_SECRET new, JWT_SECRET_PREVIOUS old) tokens of either secret verify and
// the new one signs; once the previous secret is removed, tokens of the old one fail.
func TestAccessTokenRotation(t *testing.T) {
	t.Parallel()
	const oldSecret, newSecret = secret, "fedcba9876543210fedcba9876543210-new-secret"
	uid, sid := uuid.New(), uuid.New()
	issue := func(tk *Tokens) string {
		tok, _, err := tk.IssueAccess(uid, sid)
		require.NoError(t, err)
		return tok
	}
	before := NewTokens(oldSecret, "youworker", "youworker-api", time.Minute)
	// Phase 1 (optional, for rolling restarts): the new secret is accepted before it signs.
	accepting := NewTokens(oldSecret, "youworker", "youworker-api", time.Minute, newSecret)
	during := NewTokens(newSecret, "youworker", "youworker-api", time.Minute, oldSecret)
	after := NewTokens(newSecret, "youworker", "youworker-api", time.Minute)

	oldTok, newTok := issue(before), issue(during)
	require.Equal(t, oldTok[:strings.IndexByte(oldTok, '.')], issue(accepting)[:strings.IndexByte(oldTok, '.')],
		"with the new secret only accepted, the old one still signs (same kid)")
	for _, tc := range []struct {
		name  string
		tk    *Tokens
		token string
		ok    bool
	}{
		{"old token, old secret", before, oldTok, true},
		{"new token, new secret accepted", accepting, newTok, true},
		{"old token during the rotation", during, oldTok, true},
		{"new token during the rotation", during, newTok, true},
		{"new token, new secret alone", after, newTok, true},
		{"old token once the previous secret is removed", after, oldTok, false},
		{"new token where only the old secret is known", before, newTok, false},
	} {
		gotUID, gotSID, err := tc.tk.VerifyAccess(tc.token)
		if !tc.ok {
			require.ErrorIs(t, err, ErrInvalidToken, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, uid, gotUID, tc.name)
		require.Equal(t, sid, gotSID, tc.name)
	}

	csrfOld, csrfNew := before.CSRFToken(sid), during.CSRFToken(sid)
	require.True(t, during.CheckCSRF(csrfOld, sid), "CSRF token of the old secret during the rotation")
	require.True(t, during.CheckCSRF(csrfNew, sid))
	require.True(t, accepting.CheckCSRF(csrfNew, sid))
	require.False(t, after.CheckCSRF(csrfOld, sid), "CSRF token of the old secret after the rotation")
	require.True(t, after.CheckCSRF(csrfNew, sid))
}

// The kid header names the signing key by a fingerprint, never the key or the secret.
func TestKidIsAFingerprint(t *testing.T) {
	t.Parallel()
	tok, _, err := newTokens().IssueAccess(uuid.New(), uuid.New())
	require.NoError(t, err)
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	kid, _ := parsed.Header["kid"].(string)
	require.Equal(t, keyring.ID(accessKey), kid)
	require.Len(t, kid, 8)
	require.NotContains(t, tok, base64.RawURLEncoding.EncodeToString(accessKey)[:8])
}

func FuzzVerifyAccess(f *testing.F) {
	tk := newTokens()
	tok, _, _ := tk.IssueAccess(uuid.New(), uuid.New())
	f.Add(tok)
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Add(`eyJhbGciOiJub25lIn0.e30.`)
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, err := tk.VerifyAccess(s); err != nil {
			return
		}
		// Anything accepted must carry our own HS256 signature over its header and payload.
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token that is not three parts: %q", s)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		mac := hmac.New(sha256.New, accessKey)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted a token we did not sign: %q", s)
		}
	})
}

// The access token carries when its login last proved the user (auth_time), as given, and
// VerifyAccessAuthTime reads it back only from a token that verifies.
func TestAccessTokenAuthTime(t *testing.T) {
	t.Parallel()
	tk := newTokens()
	uid, sid := uuid.New(), uuid.New()
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	tok, _, err := tk.IssueAccessAt(uid, sid, at)
	require.NoError(t, err)
	gotUID, gotSID, got, err := tk.VerifyAccessAuthTime(tok)
	require.NoError(t, err)
	require.Equal(t, uid, gotUID)
	require.Equal(t, sid, gotSID)
	require.True(t, at.Equal(got), "auth_time %s, want %s", got, at)

	none, _, err := tk.IssueAccessAt(uid, sid, time.Time{})
	require.NoError(t, err)
	_, _, got, err = tk.VerifyAccessAuthTime(none)
	require.NoError(t, err)
	require.True(t, got.IsZero(), "an unknown auth_time is left out, never a date in year 1")

	forged := sign(t, jwt.SigningMethodHS256, []byte("another key of thirty-two bytes!!"), with(validClaims(), "auth_time", time.Now().Unix()))
	_, _, _, err = tk.VerifyAccessAuthTime(forged)
	require.ErrorIs(t, err, ErrInvalidToken)
}
