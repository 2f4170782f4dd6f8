// Package encryption encrypts data at rest (message content, tool calls and arguments, system
// prompts, event payloads, extracted document text) and binds every ciphertext to the place it is
// stored: the table, the column and the row (a Binding). A ciphertext copied into another row, or
// another column of its own row, does not decrypt there.
//
// Keys are Fernet keys (FERNET_KEYS, youworker keys generate) forming a list: the first encrypts,
// every one decrypts, so keys rotate by putting a new key first, re-encrypting (RotateKeys), then
// dropping the old one.
//
// The format is XChaCha20-Poly1305 under a key derived (HKDF-SHA256) from each Fernet key, with
// the Binding as associated data:
//
//	0x01 | key id (4 bytes) | nonce (24 random bytes) | ciphertext | tag (16 bytes)
//
// Data written before binding existed is Fernet tokens (base64 text starting with "gAAAAA"),
// which are not bound to anything. Decrypt still reads them unless the Box is built with
// LegacyReads(false); Reseal (RotateKeys) rewrites them in the bound format whatever that setting.
package encryption

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/fernet/fernet-go"
	"golang.org/x/crypto/chacha20poly1305"
)

// ErrCiphertext is returned for ciphertext that is tampered, truncated, sealed with a key not in
// the list or for another place (Binding). It never carries the data.
var ErrCiphertext = errors.New("ciphertext cannot be decrypted with the configured keys")

// Binding names where a ciphertext is stored: a table, a column and the row's key. It is the
// associated data of the encryption, so a ciphertext opens only where it was sealed for.
type Binding struct{ s string }

// Bind names column of the row of table whose key is key (its parts in order), e.g.
// Bind("messages", "content", id.String()) is "messages.content:<id>".
func Bind(table, column string, key ...string) Binding {
	return Binding{s: table + "." + column + ":" + strings.Join(key, "/")}
}

// String is the binding as it is authenticated, e.g. "messages.content:<id>".
func (b Binding) String() string { return b.s }

const (
	// boundVersion starts every bound ciphertext. A Fernet token, base64url text of a token
	// starting with the byte 0x80, starts with 'g'.
	boundVersion = 0x01
	kidSize      = 4
	headerSize   = 1 + kidSize
	nonceSize    = chacha20poly1305.NonceSizeX
	// overhead is what a bound ciphertext adds to the plaintext.
	overhead = headerSize + nonceSize + chacha20poly1305.Overhead
)

// minToken is the length of a Fernet token holding an empty message: version, timestamp, IV, one
// padded block and the HMAC, base64url-encoded.
const minToken = 76

// HKDF labels of the keys derived from a Fernet key.
const (
	aeadLabel = "youworker at-rest xchacha20poly1305 v1"
	kidLabel  = "youworker at-rest key id v1"
)

// key is one configured Fernet key with what is derived from it.
type key struct {
	fernet *fernet.Key
	aead   cipher.AEAD
	id     [kidSize]byte
}

// Box seals and opens data with a list of keys.
type Box struct {
	keys   []key
	legacy bool
}

// Option configures a Box.
type Option func(*Box)

// LegacyReads says whether Decrypt opens Fernet tokens, the unbound format written before
// ciphertext was bound to its place (default true). Reseal opens them regardless.
func LegacyReads(on bool) Option { return func(b *Box) { b.legacy = on } }

// New parses base64url Fernet keys (the first is the encryption key).
func New(keys []string, opts ...Option) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key configured (generate one with: youworker keys generate)")
	}
	b := &Box{legacy: true}
	for i, k := range keys {
		fk, err := fernet.DecodeKey(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("encryption key #%d is not a Fernet key (32 bytes, base64): %w", i+1, err)
		}
		aeadKey, err := hkdf.Key(sha256.New, fk[:], nil, aeadLabel, chacha20poly1305.KeySize)
		if err != nil {
			return nil, err
		}
		kid, err := hkdf.Key(sha256.New, fk[:], nil, kidLabel, kidSize)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(aeadKey)
		if err != nil {
			return nil, err
		}
		b.keys = append(b.keys, key{fernet: fk, aead: aead, id: [kidSize]byte(kid)})
	}
	for _, o := range opts {
		o(b)
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

// Encrypt seals plaintext with the first key, bound to where it will be stored.
func (b *Box) Encrypt(where Binding, plaintext []byte) ([]byte, error) {
	if where.s == "" {
		return nil, errors.New("encryption: no binding")
	}
	return b.seal(&b.keys[0], where, plaintext)
}

// EncryptString is Encrypt for text.
func (b *Box) EncryptString(where Binding, s string) ([]byte, error) {
	return b.Encrypt(where, []byte(s))
}

// Decrypt opens ciphertext stored at where, with whichever configured key sealed it.
func (b *Box) Decrypt(where Binding, ciphertext []byte) ([]byte, error) {
	pt, _, err := b.open(where, ciphertext, b.legacy)
	return pt, err
}

// DecryptString is Decrypt for text.
func (b *Box) DecryptString(where Binding, ciphertext []byte) (string, error) {
	pt, err := b.Decrypt(where, ciphertext)
	return string(pt), err
}

// Reseal returns ciphertext stored at where as it should be stored now: unchanged (changed false)
// when it is bound and sealed with the current key, else opened (a Fernet token too, whatever
// LegacyReads says) and sealed again, bound to where, with the current key. Ciphertext that does
// not open at where is an error.
func (b *Box) Reseal(where Binding, ciphertext []byte) (resealed []byte, changed bool, err error) {
	if where.s == "" {
		return nil, false, errors.New("encryption: no binding")
	}
	pt, current, err := b.open(where, ciphertext, true)
	if err != nil || current {
		return nil, false, err
	}
	resealed, err = b.seal(&b.keys[0], where, pt)
	return resealed, err == nil, err
}

func (b *Box) seal(k *key, where Binding, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, len(plaintext)+overhead)
	out[0] = boundVersion
	copy(out[1:headerSize], k.id[:])
	nonce := out[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, nonce, plaintext, additionalData(out[:headerSize], where)), nil
}

// additionalData authenticates the header (format and key id) with the binding.
func additionalData(header []byte, where Binding) []byte {
	ad := make([]byte, 0, len(header)+len(where.s))
	return append(append(ad, header...), where.s...)
}

// open opens ciphertext stored at where and reports whether it is bound and sealed with the
// current key. Fernet tokens open only when legacy is set.
func (b *Box) open(where Binding, ciphertext []byte, legacy bool) (pt []byte, current bool, err error) {
	if where.s == "" {
		return nil, false, errors.New("encryption: no binding")
	}
	if len(ciphertext) > 0 && ciphertext[0] == boundVersion {
		return b.openBound(where, ciphertext)
	}
	if !legacy {
		return nil, false, fmt.Errorf("%w: unbound (Fernet) ciphertext is not accepted", ErrCiphertext)
	}
	pt, err = b.openFernet(ciphertext)
	return pt, false, err
}

func (b *Box) openBound(where Binding, ct []byte) ([]byte, bool, error) {
	if len(ct) < overhead {
		return nil, false, ErrCiphertext
	}
	header, nonce, sealed := ct[:headerSize], ct[headerSize:headerSize+nonceSize], ct[headerSize+nonceSize:]
	ad := additionalData(header, where)
	for i := range b.keys {
		k := &b.keys[i]
		if subtle.ConstantTimeCompare(k.id[:], header[1:]) != 1 {
			continue
		}
		// Key ids may collide (4 bytes); then the next key with the same id is tried.
		if pt, err := k.aead.Open(nil, nonce, sealed, ad); err == nil {
			if pt == nil {
				pt = []byte{}
			}
			return pt, i == 0, nil
		}
	}
	return nil, false, ErrCiphertext
}

func (b *Box) openFernet(ct []byte) (pt []byte, err error) {
	if len(ct) < minToken {
		return nil, ErrCiphertext
	}
	defer func() {
		// fernet-go checks the HMAC before slicing, so a panic would need a forged token; stay
		// safe regardless.
		if recover() != nil {
			pt, err = nil, ErrCiphertext
		}
	}()
	for _, k := range b.keys {
		if msg := fernet.VerifyAndDecrypt(ct, 0, []*fernet.Key{k.fernet}); msg != nil {
			return msg, nil
		}
	}
	return nil, ErrCiphertext
}
