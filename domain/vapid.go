package domain

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"
)

// VAPIDKeys is the application server's P-256 key pair (RFC 8292), both
// halves base64url without padding: PublicKey is the 65-byte uncompressed
// point browsers take as applicationServerKey, PrivateKey the 32-byte scalar.
type VAPIDKeys struct {
	PublicKey  string
	PrivateKey string
}

// GenerateVAPIDKeys makes a fresh key pair.
func GenerateVAPIDKeys() (VAPIDKeys, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return VAPIDKeys{}, err
	}
	return VAPIDKeys{
		PublicKey:  EncodeBase64URL(k.PublicKey().Bytes()),
		PrivateKey: EncodeBase64URL(k.Bytes()),
	}, nil
}

// Validate checks that both halves decode and that they belong together: a
// mismatched pair would make every push service answer 401/403.
func (k VAPIDKeys) Validate() error {
	priv, ok := DecodeBase64(k.PrivateKey)
	if !ok {
		return errors.New("private key is not base64url")
	}
	pk, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return errors.New("private key is not a P-256 scalar")
	}
	pub, ok := DecodeBase64(k.PublicKey)
	if !ok {
		return errors.New("public key is not base64url")
	}
	if !bytes.Equal(pk.PublicKey().Bytes(), pub) {
		return errors.New("public key does not match the private key")
	}
	return nil
}

// Canonical is k in the form the service stores and compares keys in,
// base64url without padding (k came in any base64, e.g. from the
// configuration; webpush-go also refuses standard base64's "+" and "/").
// Halves that do not decode are left as they are: Validate reports them.
func (k VAPIDKeys) Canonical() VAPIDKeys {
	if b, ok := DecodeBase64(k.PublicKey); ok {
		k.PublicKey = EncodeBase64URL(b)
	}
	if b, ok := DecodeBase64(k.PrivateKey); ok {
		k.PrivateKey = EncodeBase64URL(b)
	}
	return k
}

// VAPIDKeyState is where a stored key pair is in its life.
type VAPIDKeyState string

// The states of a key pair. Exactly one is current: GET /vapid-public-key
// serves it and new subscriptions bind to it. Retiring ones still sign for
// the subscriptions made with them until those move to the current key (the
// client script moves them) or the key is retired for good.
const (
	VAPIDKeyCurrent  VAPIDKeyState = "current"
	VAPIDKeyRetiring VAPIDKeyState = "retiring"
)

// VAPIDKey is one key pair the service holds, with its id and state. A push
// service only accepts pushes signed with the key a subscription was made
// with, so each subscription records its key's ID and is signed with it.
type VAPIDKey struct {
	ID int
	VAPIDKeys
	State         VAPIDKeyState
	CreatedAt     time.Time
	RetiringSince time.Time // zero unless retiring
	// RevokedAt is when the key stopped signing (a compromise: `evpush
	// vapid rotate --revoke`); zero while it signs. Only a retiring key is
	// revoked.
	RevokedAt time.Time
	// Configured says the pair comes from VAPID_PUBLIC_KEY and
	// VAPID_PRIVATE_KEY, not from the database, which holds its public half
	// only.
	Configured bool
}

// Revoked reports whether the key no longer signs.
func (k VAPIDKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// CanSign reports whether pushes may be signed with k here: not revoked,
// and its private key at hand (a configured key's private half lives in the
// configuration of the instances that set it).
func (k VAPIDKey) CanSign() bool { return !k.Revoked() && k.PrivateKey != "" }

// WhyNotSigning says why CanSign is false, for logs and the withheld metric:
// "revoked" or "no_private_key"; "" when k signs.
func (k VAPIDKey) WhyNotSigning() string {
	switch {
	case k.Revoked():
		return WithheldRevoked
	case k.PrivateKey == "":
		return WithheldNoPrivateKey
	}
	return ""
}

// Reasons a push is withheld (OutcomeWithheld), a closed set for metrics.
const (
	WithheldRevoked      = "revoked"
	WithheldNoPrivateKey = "no_private_key"
	WithheldUnknownKey   = "unknown_key"
)

// Fingerprint names the key in logs and in `evpush vapid list` without
// spelling it out: 8 hex digits of a hash of the public key.
func (k VAPIDKey) Fingerprint() string { return shortHash(k.PublicKey) }

// FieldApplicationServerKey is the subscribe body's field naming the key the
// browser subscribed with (subscription.options.applicationServerKey).
const FieldApplicationServerKey = "application_server_key"

// CanonicalPublicKey checks that s is a VAPID public key (a 65-byte
// uncompressed P-256 point, in standard or URL-safe base64, padded or not)
// and returns it in its stored form, base64url without padding. The message
// names what is wrong, for a validation error.
func CanonicalPublicKey(s string) (string, string) {
	b, msg := decodeP256Point(s)
	if msg != "" {
		return "", msg
	}
	return EncodeBase64URL(b), ""
}

// Keyring is the set of key pairs one process signs with, as loaded at one
// moment: immutable, so a reload swaps the whole ring.
type Keyring struct {
	keys    []VAPIDKey // by ID
	current int        // index into keys
}

// ErrNoCurrentKey says the stored keys have no usable current key.
var ErrNoCurrentKey = errors.New("no current VAPID key that can sign")

// NewKeyring builds the ring from the stored keys. configured, when set
// (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY), is authoritative: its stored row
// (by public key) gets the private key and is current here whatever the
// database says, and any other key current there is treated as retiring.
// The current key must be able to sign.
func NewKeyring(stored []VAPIDKey, configured VAPIDKeys) (*Keyring, error) {
	r := &Keyring{keys: slices.Clone(stored), current: -1}
	slices.SortFunc(r.keys, func(a, b VAPIDKey) int { return a.ID - b.ID })
	for i := range r.keys {
		k := &r.keys[i]
		if configured != (VAPIDKeys{}) {
			if k.PublicKey != configured.PublicKey {
				if k.State == VAPIDKeyCurrent {
					k.State = VAPIDKeyRetiring
				}
				continue
			}
			k.PrivateKey, k.Configured = configured.PrivateKey, true
			k.State, k.RetiringSince, k.RevokedAt = VAPIDKeyCurrent, time.Time{}, time.Time{}
		}
		if k.CanSign() {
			if err := k.Validate(); err != nil {
				return nil, fmt.Errorf("VAPID key %d (table vapid_keys) is unusable: %w", k.ID, err)
			}
		}
		if k.State == VAPIDKeyCurrent {
			if r.current >= 0 {
				return nil, fmt.Errorf("VAPID keys %d and %d are both current", r.keys[r.current].ID, k.ID)
			}
			r.current = i
		}
	}
	if r.current < 0 {
		return nil, ErrNoCurrentKey
	}
	if cur := r.keys[r.current]; !cur.CanSign() {
		return nil, fmt.Errorf("%w: key %d (%s) has no private key here", ErrNoCurrentKey, cur.ID, cur.Fingerprint())
	}
	return r, nil
}

// Current is the key GET /vapid-public-key serves and new subscriptions
// bind to.
func (r *Keyring) Current() VAPIDKey { return r.keys[r.current] }

// Key returns the key with this ID.
func (r *Keyring) Key(id int) (VAPIDKey, bool) {
	i, ok := slices.BinarySearchFunc(r.keys, id, func(k VAPIDKey, id int) int { return k.ID - id })
	if !ok {
		return VAPIDKey{}, false
	}
	return r.keys[i], true
}

// ByPublicKey returns the key whose public half is publicKey (canonical
// form, see CanonicalPublicKey).
func (r *Keyring) ByPublicKey(publicKey string) (VAPIDKey, bool) {
	for _, k := range r.keys {
		if k.PublicKey == publicKey {
			return k, true
		}
	}
	return VAPIDKey{}, false
}

// Keys returns every key, by ID.
func (r *Keyring) Keys() []VAPIDKey { return slices.Clone(r.keys) }

// DecoySecret keys the decoy subscription ids (DecoySubscriptionID): it is
// derived from the oldest key that signs, so it stays the same across a
// rotation (the old key signs on while it retires) and every instance with
// the same keys derives the same one. A revoked key is never used: whoever
// holds it could compute the decoys.
func (r *Keyring) DecoySecret() []byte {
	src := r.Current()
	for _, k := range r.keys {
		if k.CanSign() {
			src = k
			break
		}
	}
	sum := sha256.Sum256([]byte("evpush decoy key\x00" + src.PrivateKey))
	return sum[:]
}

// Rotation is what a rotation did.
type Rotation struct {
	// Retired was current; Current is the fresh key.
	Retired, Current VAPIDKey
	// AlsoRevoked are other retiring keys a revoking rotation revoked too,
	// because their private keys do not open with the encryption key it
	// ran with (the one that sealed them is lost): no instance could sign
	// with them, nor start while they are there.
	AlsoRevoked []VAPIDKey
}

// RetiredKey is a retiring key the cleanup deleted, with how many
// subscriptions were still bound to it (deleted with it: past
// VAPID_RETIRE_AFTER, they had not moved to the current key).
type RetiredKey struct {
	Key           VAPIDKey
	Subscriptions int
}

// KeyUsage is one stored key (without its private half) and how many
// subscriptions are bound to it.
type KeyUsage struct {
	Key           VAPIDKey
	Subscriptions int
}
