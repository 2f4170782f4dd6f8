package keyring

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const secret = "0123456789abcdef0123456789abcdef-test-secret"

// Every purpose has its own key, none equal to the secret, each with its own id: a value made
// with one key (a CSRF token) cannot verify under another (an identity token).
func TestDerivedKeysAreSeparate(t *testing.T) {
	t.Parallel()
	purposes := []Purpose{AccessToken, CSRF, MCPIdentity, SSOState}
	seen := map[string]Purpose{}
	ids := map[string]bool{}
	for _, p := range purposes {
		k := Derive([]byte(secret), p)
		require.Len(t, k, KeySize)
		require.Equal(t, k, Derive([]byte(secret), p), "deterministic: every process derives the same key")
		require.NotEqual(t, []byte(secret)[:KeySize], k, "not the secret")
		other, dup := seen[string(k)]
		require.False(t, dup, "%s and %s share a key", p, other)
		seen[string(k)] = p
		require.False(t, ids[ID(k)], "ids differ")
		ids[ID(k)] = true
		require.NotEqual(t, k, Derive([]byte(secret+"x"), p), "another secret, another key")
	}
}

func TestIDRevealsNothingOfTheKey(t *testing.T) {
	t.Parallel()
	k := Derive([]byte(secret), AccessToken)
	id := ID(k)
	require.Len(t, id, 8)
	require.Equal(t, id, ID(k))
	require.NotContains(t, string(k), id)
	require.NotContains(t, secret, id)
}

func TestRing(t *testing.T) {
	t.Parallel()
	r := New(CSRF, secret, "", secret, strings.Repeat("p", 32))
	require.Len(t, r, 2, "empty and repeated secrets are skipped")
	require.Equal(t, Derive([]byte(secret), CSRF), r.Signing(), "the current secret signs")
	for _, k := range r {
		got, ok := r.Lookup(ID(k))
		require.True(t, ok)
		require.Equal(t, k, got)
	}
	for _, kid := range []string{"", "AAAAAAAA", ID(Derive([]byte(secret), AccessToken))} {
		_, ok := r.Lookup(kid)
		require.False(t, ok, "kid %q", kid)
	}
}
