// Package encryption encrypts data at rest (message content, tool arguments, system prompts, turn
// events) with Fernet. Keys form a list: the first encrypts, every one decrypts, so keys rotate by
// putting a new key first, re-encrypting, then dropping the old one.
package encryption

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fernet/fernet-go"
)

// ErrCiphertext is returned for ciphertext that is tampered, truncated or sealed with a key not in
// the list. It never carries the data.
var ErrCiphertext = errors.New("ciphertext cannot be decrypted with the configured keys")

// minToken is the length of a Fernet token holding an empty message: version, timestamp, IV, one
// padded block and the HMAC, base64url-encoded.
const minToken = 76

// Box seals and opens data with a list of Fernet keys.
type Box struct {
	keys []*fernet.Key
}

// New parses base64url Fernet keys (the first is the encryption key).
func New(keys []string) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key configured (generate one with: youworker keys generate)")
	}
	b := &Box{}
	for i, k := range keys {
		key, err := fernet.DecodeKey(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("encryption key #%d is not a Fernet key (32 bytes, base64): %w", i+1, err)
		}
		b.keys = append(b.keys, key)
	}
	return b, nil
}

// GenerateKey returns a new random Fernet key, base64url-encoded.
func GenerateKey() (string, error) {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return "", err
	}
	return k.Encode(), nil
}

// Encrypt seals plaintext with the first key.
func (b *Box) Encrypt(plaintext []byte) ([]byte, error) {
	return fernet.EncryptAndSign(plaintext, b.keys[0])
}

// EncryptString is Encrypt for text.
func (b *Box) EncryptString(s string) ([]byte, error) { return b.Encrypt([]byte(s)) }

// Decrypt opens ciphertext with whichever configured key sealed it.
func (b *Box) Decrypt(ciphertext []byte) ([]byte, error) {
	pt, _, err := b.open(ciphertext)
	return pt, err
}

// DecryptString is Decrypt for text.
func (b *Box) DecryptString(ciphertext []byte) (string, error) {
	pt, err := b.Decrypt(ciphertext)
	return string(pt), err
}

// NeedsRotation reports whether ciphertext was sealed with a key other than the current one.
func (b *Box) NeedsRotation(ciphertext []byte) (bool, error) {
	_, idx, err := b.open(ciphertext)
	return idx > 0, err
}

func (b *Box) open(ciphertext []byte) (pt []byte, keyIndex int, err error) {
	if len(ciphertext) < minToken {
		return nil, -1, ErrCiphertext
	}
	defer func() {
		// fernet-go checks the HMAC before slicing, so a panic would need a forged token; stay
		// safe regardless.
		if recover() != nil {
			pt, keyIndex, err = nil, -1, ErrCiphertext
		}
	}()
	for i, k := range b.keys {
		if msg := fernet.VerifyAndDecrypt(ciphertext, 0, []*fernet.Key{k}); msg != nil {
			return msg, i, nil
		}
	}
	return nil, -1, ErrCiphertext
}
