package encryption

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/fernet/fernet-go"
	"github.com/stretchr/testify/require"
)

func newBox(t testing.TB, n int, opts ...Option) (*Box, []string) {
	t.Helper()
	var keys []string
	for range n {
		k, err := GenerateKey()
		require.NoError(t, err)
		keys = append(keys, k)
	}
	b, err := New(keys, opts...)
	require.NoError(t, err)
	return b, keys
}

var here = Bind("messages", "content", "0b7e6a52-5b1c-4f3e-9d7e-2a1c3f4e5d6b")

// legacyToken is what the Box wrote before binding existed: a Fernet token.
func legacyToken(t testing.TB, key, plaintext string) []byte {
	t.Helper()
	k, err := fernet.DecodeKey(key)
	require.NoError(t, err)
	tok, err := fernet.EncryptAndSign([]byte(plaintext), k)
	require.NoError(t, err)
	return tok
}

func TestRoundTripAndRotation(t *testing.T) {
	t.Parallel()
	old, oldKeys := newBox(t, 1)
	ct, err := old.EncryptString(here, "hello secret world")
	require.NoError(t, err)
	require.False(t, bytes.Contains(ct, []byte("secret")))
	require.Len(t, ct, len("hello secret world")+overhead)

	newKey, err := GenerateKey()
	require.NoError(t, err)
	rotated, err := New([]string{newKey, oldKeys[0]})
	require.NoError(t, err)
	pt, err := rotated.DecryptString(here, ct)
	require.NoError(t, err)
	require.Equal(t, "hello secret world", pt)

	nct, changed, err := rotated.Reseal(here, ct)
	require.NoError(t, err)
	require.True(t, changed, "sealed with the old key")
	onlyNew, err := New([]string{newKey})
	require.NoError(t, err)
	pt, err = onlyNew.DecryptString(here, nct)
	require.NoError(t, err)
	require.Equal(t, "hello secret world", pt)
	_, changed, err = rotated.Reseal(here, nct)
	require.NoError(t, err)
	require.False(t, changed, "already on the current key")

	_, err = old.Decrypt(here, nct)
	require.ErrorIs(t, err, ErrCiphertext, "the old list alone cannot read data sealed with the new key")
}

func TestEmptyPlaintext(t *testing.T) {
	t.Parallel()
	b, _ := newBox(t, 1)
	ct, err := b.Encrypt(here, nil)
	require.NoError(t, err)
	pt, err := b.Decrypt(here, ct)
	require.NoError(t, err)
	require.Empty(t, pt)
}

// A ciphertext opens only in the place it was sealed for: another row, another column or another
// table refuses it, and nothing of the plaintext comes out.
func TestBoundToItsPlace(t *testing.T) {
	t.Parallel()
	b, _ := newBox(t, 1)
	ct, err := b.EncryptString(here, "the plaintext")
	require.NoError(t, err)
	for name, where := range map[string]Binding{
		"another row":    Bind("messages", "content", "0b7e6a52-5b1c-4f3e-9d7e-2a1c3f4e5d6c"),
		"another column": Bind("messages", "tool_calls", "0b7e6a52-5b1c-4f3e-9d7e-2a1c3f4e5d6b"),
		"another table":  Bind("chat_sessions", "content", "0b7e6a52-5b1c-4f3e-9d7e-2a1c3f4e5d6b"),
		"key split":      Bind("messages", "content", "0b7e6a52-5b1c-4f3e-9d7e-2a1c3f4e5d6b", ""),
		"no binding":     {},
	} {
		t.Run(name, func(t *testing.T) {
			pt, err := b.Decrypt(where, ct)
			require.Error(t, err)
			require.Nil(t, pt)
			require.NotContains(t, err.Error(), "plaintext")
			_, _, err = b.Reseal(where, ct)
			require.Error(t, err, "a rotation does not launder a misplaced ciphertext")
		})
	}
	_, err = b.Encrypt(Binding{}, []byte("x"))
	require.Error(t, err, "nothing is sealed unbound")
}

func TestTamperedAndTruncated(t *testing.T) {
	t.Parallel()
	b, _ := newBox(t, 1)
	ct, err := b.EncryptString(here, "the plaintext")
	require.NoError(t, err)
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	cases := map[string][]byte{
		"empty":         nil,
		"header only":   ct[:headerSize],
		"truncated":     ct[:len(ct)-10],
		"half":          ct[:len(ct)/2],
		"extended":      append(bytes.Clone(ct), 0),
		"flipped kid":   flip(2),
		"flipped nonce": flip(headerSize + 3),
		"flipped body":  flip(headerSize + nonceSize + 1),
		"flipped tag":   flip(len(ct) - 1),
		"garbage":       bytes.Repeat([]byte("A"), 200),
		"not base64":    bytes.Repeat([]byte("!"), 100),
		"other key":     func() []byte { o, _ := newBox(t, 1); c, _ := o.EncryptString(here, "x"); return c }(),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			pt, err := b.Decrypt(here, c)
			require.ErrorIs(t, err, ErrCiphertext)
			require.Nil(t, pt)
			require.NotContains(t, err.Error(), "plaintext")
		})
	}
}

// Rows written before binding hold Fernet tokens: they still read (unless LegacyReads(false)),
// and Reseal rewrites them bound to their place, after which they read only there.
func TestLegacyFernetTokens(t *testing.T) {
	t.Parallel()
	b, keys := newBox(t, 2)
	for i, k := range keys {
		tok := legacyToken(t, k, fmt.Sprintf("written before binding with key %d", i))
		pt, err := b.DecryptString(here, tok)
		require.NoError(t, err, "legacy rows read")
		require.Equal(t, fmt.Sprintf("written before binding with key %d", i), pt)

		strict, err := New(keys, LegacyReads(false))
		require.NoError(t, err)
		_, err = strict.Decrypt(here, tok)
		require.ErrorIs(t, err, ErrCiphertext, "LegacyReads(false) refuses unbound ciphertext")

		nct, changed, err := strict.Reseal(here, tok)
		require.NoError(t, err, "the rotation converts legacy rows whatever LegacyReads says")
		require.True(t, changed)
		require.Equal(t, byte(boundVersion), nct[0])
		pt, err = strict.DecryptString(here, nct)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("written before binding with key %d", i), pt)
		_, err = strict.Decrypt(Bind("messages", "content", "another"), nct)
		require.ErrorIs(t, err, ErrCiphertext, "now bound to its row")
	}
	stranger, _ := newBox(t, 1)
	_, _, err := stranger.Reseal(here, legacyToken(t, keys[0], "x"))
	require.ErrorIs(t, err, ErrCiphertext, "a token of a key not configured")
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	_, err := New(nil)
	require.Error(t, err)
	_, err = New([]string{"not-a-key"})
	require.ErrorContains(t, err, "#1")
}

func FuzzDecrypt(f *testing.F) {
	k, _ := GenerateKey()
	b, _ := New([]string{k})
	ct, _ := b.EncryptString(here, "seed")
	fk, _ := fernet.DecodeKey(k)
	legacy, _ := fernet.EncryptAndSign([]byte("seed"), fk)
	f.Add(ct)
	f.Add(legacy)
	f.Add([]byte("gAAAAA"))
	f.Add([]byte{boundVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Only the seed was ever sealed with this key: whatever else the fuzzer makes of it must be
		// refused (an alternative encoding of the legacy token may open, to the same text).
		pt, err := b.Decrypt(here, data)
		if err == nil && string(pt) != "seed" {
			t.Fatalf("%q opened to %q", data, pt)
		}
		if err != nil && !errors.Is(err, ErrCiphertext) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// BenchmarkBox compares the bound format with the Fernet tokens it replaces, at the sizes of a
// token batch, a message and a large tool result or extracted text.
func BenchmarkBox(b *testing.B) {
	box, keys := newBox(b, 1)
	fk, err := fernet.DecodeKey(keys[0])
	require.NoError(b, err)
	for _, n := range []int{64, 1024, 64 << 10} {
		pt := bytes.Repeat([]byte("x"), n)
		bound, err := box.Encrypt(here, pt)
		require.NoError(b, err)
		legacy := legacyToken(b, keys[0], string(pt))
		for _, bm := range []struct {
			name string
			run  func() error
		}{
			{"bound/encrypt", func() error { _, err := box.Encrypt(here, pt); return err }},
			{"bound/decrypt", func() error { _, err := box.Decrypt(here, bound); return err }},
			{"fernet/encrypt", func() error { _, err := fernet.EncryptAndSign(pt, fk); return err }},
			{"fernet/decrypt", func() error { _, err := box.Decrypt(here, legacy); return err }},
		} {
			b.Run(fmt.Sprintf("%s/%d", bm.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if err := bm.run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
