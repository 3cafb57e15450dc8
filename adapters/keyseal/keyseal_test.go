package keyseal_test

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/keyseal"
)

const purpose = "evpush vapid_keys private_key"

func newKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, keyseal.KeySize)
	_, err := rand.Read(k)
	require.NoError(tb, err)
	return k
}

func newSealer(tb testing.TB, key []byte, purpose string) *keyseal.Sealer {
	tb.Helper()
	s, err := keyseal.New(key, purpose)
	require.NoError(tb, err)
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t, newKey(t), purpose)
	const secret = "Wy8V0yE4YbbCyM3a8N1JxjFz9kC3l0rG4Uq9oZbV5cA"

	a, err := s.Seal(secret)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(a, keyseal.Prefix))
	require.True(t, keyseal.IsSealed(a))
	require.NotContains(t, a, secret)

	plain, sealed, err := s.Open(a)
	require.NoError(t, err)
	require.True(t, sealed)
	require.Equal(t, secret, plain)

	// A fresh nonce each time: the same value never seals to the same text.
	b, err := s.Seal(secret)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	plain, _, err = s.Open(b)
	require.NoError(t, err)
	require.Equal(t, secret, plain)

	// The empty value round-trips too.
	e, err := s.Seal("")
	require.NoError(t, err)
	plain, sealed, err = s.Open(e)
	require.NoError(t, err)
	require.True(t, sealed)
	require.Empty(t, plain)
}

func TestOpenPlainPassesThrough(t *testing.T) {
	t.Parallel()
	const plainValue = "Wy8V0yE4YbbCyM3a8N1JxjFz9kC3l0rG4Uq9oZbV5cA"
	for name, s := range map[string]*keyseal.Sealer{
		"with key": newSealer(t, newKey(t), purpose),
		"no key":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.False(t, keyseal.IsSealed(plainValue))
			got, sealed, err := s.Open(plainValue)
			require.NoError(t, err)
			require.False(t, sealed)
			require.Equal(t, plainValue, got)
		})
	}
}

func TestOpenSealedWithoutKey(t *testing.T) {
	t.Parallel()
	v, err := newSealer(t, newKey(t), purpose).Seal("secret")
	require.NoError(t, err)

	var none *keyseal.Sealer
	_, sealed, err := none.Open(v)
	require.ErrorIs(t, err, keyseal.ErrNoKey)
	require.True(t, sealed)
}

func TestOpenWrongKey(t *testing.T) {
	t.Parallel()
	v, err := newSealer(t, newKey(t), purpose).Seal("secret")
	require.NoError(t, err)

	_, sealed, err := newSealer(t, newKey(t), purpose).Open(v)
	require.ErrorIs(t, err, keyseal.ErrWrongKey)
	require.True(t, sealed)
	require.NotContains(t, err.Error(), "secret")
}

func TestOpenOtherPurpose(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	v, err := newSealer(t, key, "evpush something_else").Seal("secret")
	require.NoError(t, err)

	// Same key, other additional data: the ciphertext is bound to its purpose.
	_, _, err = newSealer(t, key, purpose).Open(v)
	require.ErrorIs(t, err, keyseal.ErrWrongKey)
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	s := newSealer(t, newKey(t), purpose)
	v, err := s.Seal("secret")
	require.NoError(t, err)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, keyseal.Prefix))
	require.NoError(t, err)

	// Flip one bit anywhere (nonce, ciphertext, tag): it no longer opens.
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		_, _, err := s.Open(keyseal.Prefix + base64.RawURLEncoding.EncodeToString(bad))
		require.ErrorIs(t, err, keyseal.ErrWrongKey, "byte %d", i)
	}

	// Cut short, not base64, or nothing after the prefix: malformed.
	for _, bad := range []string{
		keyseal.Prefix,
		keyseal.Prefix + base64.RawURLEncoding.EncodeToString(raw[:20]),
		keyseal.Prefix + "!!!not base64!!!",
		keyseal.Prefix + base64.StdEncoding.EncodeToString(raw), // padded: not our encoding
	} {
		_, sealed, err := s.Open(bad)
		require.ErrorIs(t, err, keyseal.ErrMalformed, "%q", bad)
		require.True(t, sealed)
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	t.Parallel()
	_, err := keyseal.New(make([]byte, 16), purpose)
	require.Error(t, err)
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	for name, s := range map[string]string{
		"standard padded":   base64.StdEncoding.EncodeToString(key),
		"standard unpadded": base64.RawStdEncoding.EncodeToString(key),
		"url padded":        base64.URLEncoding.EncodeToString(key),
		"url unpadded":      base64.RawURLEncoding.EncodeToString(key),
		"surrounding space": "  " + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		got, err := keyseal.ParseKey(s)
		require.NoError(t, err, name)
		require.Equal(t, key, got, name)
	}

	for name, s := range map[string]string{
		"empty":      "",
		"16 bytes":   base64.StdEncoding.EncodeToString(key[:16]),
		"33 bytes":   base64.StdEncoding.EncodeToString(append(key, 1)),
		"not base64": "this is not base64 at all, not at all!!",
		"hex":        strings.Repeat("ab", 32),
		"mixed alphabets": strings.Replace(strings.Replace(
			base64.RawStdEncoding.EncodeToString(make([]byte, 32)), "A", "+", 1), "A", "-", 1),
	} {
		_, err := keyseal.ParseKey(s)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "openssl rand -base64 32", name)
		if s != "" {
			require.NotContains(t, err.Error(), s, "the key is never repeated")
		}
	}
}
