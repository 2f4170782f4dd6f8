package sso

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// loginState is what the state cookie carries from Begin to Finish. It is signed, not encrypted:
// it only ever travels between this server and the browser that started the login.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"`           // unix seconds
	Link     string `json:"l,omitempty"` // BeginLink's account
}

// deriveStateKey derives (HKDF-SHA256) the state MAC key from the configured key, binding cookies
// to one provider and client.
func deriveStateKey(secret []byte, issuer, clientID string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "youworker sso state v1\x00"+issuer+"\x00"+clientID, sha256.Size)
	if err != nil {
		panic(err) // only for a length above 255*32 bytes
	}
	return k
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// signedByUs reports whether sig is the MAC of payload under one of the state keys.
func (p *Provider) signedByUs(payload string, sig []byte) bool {
	for _, k := range p.stateKeys {
		if hmac.Equal(sig, mac(k, payload)) {
			return true
		}
	}
	return false
}

// sealState encodes st as base64url(JSON) "." base64url(HMAC-SHA256).
func (p *Provider) sealState(st loginState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("sso: encode state: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(p.stateKeys[0], payload)), nil
}

// openState checks the cookie's signature and expiry and decodes it.
func (p *Provider) openState(cookie string) (loginState, error) {
	if cookie == "" {
		return loginState{}, fmt.Errorf("%w: no state cookie", ErrState)
	}
	payload, sig, ok := strings.Cut(cookie, ".")
	if !ok {
		return loginState{}, fmt.Errorf("%w: malformed state cookie", ErrState)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !p.signedByUs(payload, got) {
		return loginState{}, fmt.Errorf("%w: bad state cookie signature", ErrState)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return loginState{}, fmt.Errorf("%w: malformed state cookie", ErrState)
	}
	var st loginState
	if err := json.Unmarshal(b, &st); err != nil {
		return loginState{}, fmt.Errorf("%w: malformed state cookie: %w", ErrState, err)
	}
	if st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return loginState{}, fmt.Errorf("%w: incomplete state cookie", ErrState)
	}
	if p.now().Unix() >= st.Expires {
		return loginState{}, fmt.Errorf("%w: state cookie expired", ErrState)
	}
	return st, nil
}
