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
)

const secret = "0123456789abcdef0123456789abcdef-test-secret"

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

// sign builds a token with arbitrary claims and method, as an attacker would.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
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
	valid := sign(t, jwt.SigningMethodHS256, []byte(secret), validClaims())
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
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, []byte(secret), validClaims())},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims())},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "exp", time.Now().Add(-time.Hour).Unix()))},
		{"missing exp", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "exp", nil))},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "aud", "someone-else"))},
		{"missing audience", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "aud", nil))},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "iss", "evil"))},
		{"not an access token", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "typ", "refresh"))},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "iat", time.Now().Add(time.Hour).Unix()))},
		{"subject not a uuid", sign(t, jwt.SigningMethodHS256, []byte(secret), with(validClaims(), "sub", "admin"))},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","typ":"access"}`)) + "." + parts[2]},
		{"truncated signature", valid[:len(valid)-5]},
		{"1000 dots", strings.Repeat(".", 1000)},
		{"huge token", strings.Repeat("a", 10000)},
		{"empty", ""},
		{"opaque refresh token", func() string { s, _ := NewRefreshToken(); return s }()},
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
		mac := hmac.New(sha256.New, []byte(secret))
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
