// Package keyseal encrypts secrets the service keeps in its own database
// (today the generated VAPID private key), so a copy of the database (a
// backup, a replica, a read-only role) does not hand out the key that signs
// every push.
//
// A sealed value is text, "enc:v1:" followed by base64url (no padding) of the
// 12-byte nonce and the AES-256-GCM ciphertext with its tag. The prefix makes
// plain values (written before encryption was turned on) recognisable, and
// the version leaves room for another format later. The additional data
// names the value's purpose, so a ciphertext copied into another column, or
// made for another purpose with the same key, does not open.
package keyseal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "enc:v1:"

// KeySize is the length of an encryption key: AES-256.
const KeySize = 32

var (
	// ErrNoKey: the value is sealed but no key was given to open it.
	ErrNoKey = errors.New("the value is encrypted and no encryption key is configured")
	// ErrWrongKey: the value does not open with this key. GCM cannot tell a
	// different key from an altered ciphertext, so this is both.
	ErrWrongKey = errors.New("the value does not decrypt with this key (a different key, or the value was altered)")
	// ErrMalformed: the value carries the prefix but is not a sealed value.
	ErrMalformed = errors.New("the value is not in the " + Prefix + " format")
)

// ParseKey decodes a 32-byte key from base64, standard or URL-safe, with or
// without padding (`openssl rand -base64 32` prints the standard, padded
// form). Errors never repeat the value: it is a secret.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.Strict().DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("decodes to %d bytes, must be %d (generate one with: openssl rand -base64 32)", len(b), KeySize)
		}
		return b, nil
	}
	return nil, errors.New("must be 32 bytes in base64 (generate one with: openssl rand -base64 32)")
}

// Sealer seals and opens values of one purpose with one key. A nil *Sealer
// stands for "no key configured": Open passes plain values through and
// refuses sealed ones with ErrNoKey.
type Sealer struct {
	aead    cipher.AEAD
	purpose []byte
}

// New returns a Sealer for values of purpose (the additional data, e.g.
// "evpush vapid_keys private_key").
func New(key []byte, purpose string) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("error creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("error creating cipher: %w", err)
	}
	return &Sealer{aead: aead, purpose: []byte(purpose)}, nil
}

// IsSealed reports whether v is a sealed value rather than plain text.
func IsSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// Seal encrypts plain under a fresh random nonce: sealing one value twice
// gives two different texts.
func (s *Sealer) Seal(plain string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("error reading a nonce: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), s.purpose)
	return Prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the plain text of stored and whether it was sealed. A value
// without the prefix is plain text and comes back unchanged (sealed false),
// so rows written before encryption was turned on still read.
func (s *Sealer) Open(stored string) (plain string, sealed bool, err error) {
	rest, ok := strings.CutPrefix(stored, Prefix)
	if !ok {
		return stored, false, nil
	}
	if s == nil {
		return "", true, ErrNoKey
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", true, ErrMalformed
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, raw[:n], raw[n:], s.purpose)
	if err != nil {
		return "", true, ErrWrongKey
	}
	return string(out), true, nil
}
