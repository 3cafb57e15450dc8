package domain_test

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

// stored is a key as the store returns it.
func stored(tb testing.TB, id int, state domain.VAPIDKeyState) domain.VAPIDKey {
	tb.Helper()
	k := domain.VAPIDKey{ID: id, VAPIDKeys: newVAPIDKeys(tb), State: state}
	if state == domain.VAPIDKeyRetiring {
		k.RetiringSince = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return k
}

func TestKeyring(t *testing.T) {
	t.Parallel()
	old, cur := stored(t, 1, domain.VAPIDKeyRetiring), stored(t, 3, domain.VAPIDKeyCurrent)
	ring, err := domain.NewKeyring([]domain.VAPIDKey{cur, old}, domain.VAPIDKeys{})
	require.NoError(t, err)

	require.Equal(t, cur, ring.Current())
	require.Equal(t, []domain.VAPIDKey{old, cur}, ring.Keys(), "by ID")
	got, ok := ring.Key(1)
	require.True(t, ok)
	require.Equal(t, old, got)
	_, ok = ring.Key(2)
	require.False(t, ok)
	got, ok = ring.ByPublicKey(old.PublicKey)
	require.True(t, ok)
	require.Equal(t, old, got)
	_, ok = ring.ByPublicKey(newVAPIDKeys(t).PublicKey)
	require.False(t, ok)
}

func TestNewKeyringRefuses(t *testing.T) {
	t.Parallel()
	cur := stored(t, 1, domain.VAPIDKeyCurrent)
	noPrivate := cur
	noPrivate.PrivateKey = ""
	mismatched := stored(t, 2, domain.VAPIDKeyRetiring)
	mismatched.PrivateKey = cur.PrivateKey

	for name, tt := range map[string]struct {
		keys []domain.VAPIDKey
		want string
	}{
		"none":                     {keys: nil, want: "no current VAPID key"},
		"only retiring":            {keys: []domain.VAPIDKey{stored(t, 1, domain.VAPIDKeyRetiring)}, want: "no current VAPID key"},
		"two current":              {keys: []domain.VAPIDKey{cur, stored(t, 2, domain.VAPIDKeyCurrent)}, want: "both current"},
		"current without private":  {keys: []domain.VAPIDKey{noPrivate}, want: "has no private key here"},
		"a pair that does not fit": {keys: []domain.VAPIDKey{cur, mismatched}, want: "VAPID key 2 (table vapid_keys) is unusable"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.NewKeyring(tt.keys, domain.VAPIDKeys{})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestNewKeyringConfigured: the configured pair is authoritative: its row
// gets the private key and is current, whatever the database says.
func TestNewKeyringConfigured(t *testing.T) {
	t.Parallel()
	dbCurrent := stored(t, 1, domain.VAPIDKeyCurrent)
	configured := newVAPIDKeys(t)
	row := domain.VAPIDKey{ID: 2, VAPIDKeys: domain.VAPIDKeys{PublicKey: configured.PublicKey}, State: domain.VAPIDKeyRetiring,
		RetiringSince: time.Now(), Configured: true}

	ring, err := domain.NewKeyring([]domain.VAPIDKey{dbCurrent, row}, configured)
	require.NoError(t, err)
	cur := ring.Current()
	require.Equal(t, 2, cur.ID)
	require.Equal(t, configured, cur.VAPIDKeys)
	require.True(t, cur.CanSign())
	require.True(t, cur.RetiringSince.IsZero())
	other, _ := ring.Key(1)
	require.Equal(t, domain.VAPIDKeyRetiring, other.State, "signs on for its devices")
	require.True(t, other.CanSign())

	// Without the configuration that row signs nothing here.
	ring, err = domain.NewKeyring([]domain.VAPIDKey{dbCurrent, row}, domain.VAPIDKeys{})
	require.NoError(t, err)
	k, _ := ring.Key(2)
	require.False(t, k.CanSign())
	require.Equal(t, domain.WithheldNoPrivateKey, k.WhyNotSigning())

	// A configured key the database does not hold: nothing is current.
	_, err = domain.NewKeyring([]domain.VAPIDKey{dbCurrent}, configured)
	require.ErrorIs(t, err, domain.ErrNoCurrentKey)
}

func TestVAPIDKeySigning(t *testing.T) {
	t.Parallel()
	k := stored(t, 1, domain.VAPIDKeyRetiring)
	require.True(t, k.CanSign())
	require.Empty(t, k.WhyNotSigning())
	k.RevokedAt = time.Now()
	require.True(t, k.Revoked())
	require.False(t, k.CanSign())
	require.Equal(t, domain.WithheldRevoked, k.WhyNotSigning())

	require.Len(t, k.Fingerprint(), 8)
	require.NotContains(t, k.PublicKey, k.Fingerprint())
}

// TestDecoySecret: the decoy ids' secret survives a rotation (the oldest
// key that signs keys it), is what it was before key rotation existed
// (sha256 of the one key's private half), and never comes from a revoked key.
func TestDecoySecret(t *testing.T) {
	t.Parallel()
	first := stored(t, 1, domain.VAPIDKeyCurrent)
	legacy := sha256.Sum256([]byte("evpush decoy key\x00" + first.PrivateKey))
	ring, err := domain.NewKeyring([]domain.VAPIDKey{first}, domain.VAPIDKeys{})
	require.NoError(t, err)
	require.Equal(t, legacy[:], ring.DecoySecret())

	first.State, first.RetiringSince = domain.VAPIDKeyRetiring, time.Now()
	second := stored(t, 2, domain.VAPIDKeyCurrent)
	ring, err = domain.NewKeyring([]domain.VAPIDKey{first, second}, domain.VAPIDKeys{})
	require.NoError(t, err)
	require.Equal(t, legacy[:], ring.DecoySecret(), "unchanged by a rotation")

	first.RevokedAt, first.PrivateKey = time.Now(), ""
	ring, err = domain.NewKeyring([]domain.VAPIDKey{first, second}, domain.VAPIDKeys{})
	require.NoError(t, err)
	fromSecond := sha256.Sum256([]byte("evpush decoy key\x00" + second.PrivateKey))
	require.Equal(t, fromSecond[:], ring.DecoySecret())
}

func TestCanonicalPublicKey(t *testing.T) {
	t.Parallel()
	k := newVAPIDKeys(t)
	raw, err := base64.RawURLEncoding.DecodeString(k.PublicKey)
	require.NoError(t, err)
	for _, in := range []string{k.PublicKey, base64.StdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw)} {
		got, msg := domain.CanonicalPublicKey(in)
		require.Empty(t, msg, in)
		require.Equal(t, k.PublicKey, got)
	}
	notOnCurve := append([]byte{4}, make([]byte, 64)...)
	for in, want := range map[string]string{
		"!!!":                              "must be base64",
		domain.EncodeBase64URL(raw[:33]):   "65-byte",
		domain.EncodeBase64URL(notOnCurve): "not a point on the P-256 curve",
		k.PrivateKey:                       "65-byte",
	} {
		_, msg := domain.CanonicalPublicKey(in)
		require.Contains(t, msg, want, in)
	}
}
