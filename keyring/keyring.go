// Package keyring derives YouWorker's purpose-bound keys from its configured secrets and names
// them.
//
// One configured secret (JWT_SECRET) keys several mechanisms: access tokens, CSRF tokens, the
// caller identities sent to MCP servers and the SSO state cookie. Each gets its own key, derived
// with HKDF-SHA256 under a distinct label, so that a value made for one purpose can never pass for
// another and none is keyed with the secret itself. A key is named by its ID, a fingerprint that
// reveals nothing of it, which tokens carry as their kid. During a rotation two secrets are
// configured, so each purpose has two keys: the current one signs, both verify.
package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
)

// Purpose is the HKDF info label of a key; every purpose has its own.
type Purpose string

// The purposes keyed by JWT_SECRET.
const (
	AccessToken Purpose = "youworker access token v1"
	CSRF        Purpose = "youworker csrf token v1"
	MCPIdentity Purpose = "youworker mcp identity v1"
	SSOState    Purpose = "youworker sso state v1"
)

// KeySize is the length of a derived key (HMAC-SHA256 keys).
const KeySize = 32

// Derive returns the key for purpose derived from secret.
func Derive(secret []byte, purpose Purpose) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, string(purpose), KeySize)
	if err != nil {
		panic(err) // only for a length above 255*32 bytes
	}
	return k
}

// ID names key: 8 base64url characters of a SHA-256 over a label and the key. It reveals nothing
// usable of a high-entropy key and tells apart the keys of one rotation.
func ID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("youworker key id v1\x00"))
	h.Write(key)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:6])
}

// Ring is the keys of one purpose: the first signs, every one verifies.
type Ring [][]byte

// New derives the ring of purpose from the current secret and the previous ones still accepted
// (empty ones are skipped).
func New(purpose Purpose, current string, previous ...string) Ring {
	r := Ring{Derive([]byte(current), purpose)}
	for _, p := range previous {
		if p != "" && p != current {
			r = append(r, Derive([]byte(p), purpose))
		}
	}
	return r
}

// Signing is the key that signs: the current one.
func (r Ring) Signing() []byte { return r[0] }

// Lookup returns the key of the ring whose ID is kid.
func (r Ring) Lookup(kid string) ([]byte, bool) {
	for _, k := range r {
		if kid != "" && ID(k) == kid {
			return k, true
		}
	}
	return nil, false
}
