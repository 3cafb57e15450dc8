package domain_test

import (
	"crypto/ecdh"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func newVAPIDKeys(tb testing.TB) domain.VAPIDKeys {
	tb.Helper()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	return k
}

func TestGenerateVAPIDKeys(t *testing.T) {
	t.Parallel()

	k := newVAPIDKeys(t)
	require.NoError(t, k.Validate())

	require.Len(t, k.PublicKey, 87)
	pub, err := base64.RawURLEncoding.DecodeString(k.PublicKey)
	require.NoError(t, err)
	require.Len(t, pub, 65)
	require.Equal(t, byte(0x04), pub[0])
	_, err = ecdh.P256().NewPublicKey(pub)
	require.NoError(t, err)

	priv, err := base64.RawURLEncoding.DecodeString(k.PrivateKey)
	require.NoError(t, err)
	require.Len(t, priv, 32)

	other := newVAPIDKeys(t)
	require.NotEqual(t, k, other, "each call must make a fresh pair")
}

func TestVAPIDKeysValidate(t *testing.T) {
	t.Parallel()

	a := newVAPIDKeys(t)
	b := newVAPIDKeys(t)
	pub, err := base64.RawURLEncoding.DecodeString(a.PublicKey)
	require.NoError(t, err)
	priv, err := base64.RawURLEncoding.DecodeString(a.PrivateKey)
	require.NoError(t, err)

	tests := []struct {
		name    string
		keys    domain.VAPIDKeys
		wantErr string
	}{
		{name: "generated pair", keys: a},
		{name: "padded std encoding", keys: domain.VAPIDKeys{
			PublicKey:  base64.StdEncoding.EncodeToString(pub),
			PrivateKey: base64.StdEncoding.EncodeToString(priv),
		}},
		{name: "mismatched pair", keys: domain.VAPIDKeys{PublicKey: a.PublicKey, PrivateKey: b.PrivateKey}, wantErr: "does not match"},
		{name: "empty public key", keys: domain.VAPIDKeys{PrivateKey: a.PrivateKey}, wantErr: "does not match"},
		{name: "public key garbage", keys: domain.VAPIDKeys{PublicKey: "!!!", PrivateKey: a.PrivateKey}, wantErr: "public key is not base64url"},
		{name: "private key garbage", keys: domain.VAPIDKeys{PublicKey: a.PublicKey, PrivateKey: "!!!"}, wantErr: "private key is not base64url"},
		{name: "private key wrong length", keys: domain.VAPIDKeys{PublicKey: a.PublicKey, PrivateKey: domain.EncodeBase64URL(priv[:31])}, wantErr: "P-256 scalar"},
		{name: "private key zero", keys: domain.VAPIDKeys{PublicKey: a.PublicKey, PrivateKey: domain.EncodeBase64URL(make([]byte, 32))}, wantErr: "P-256 scalar"},
		{name: "empty", keys: domain.VAPIDKeys{}, wantErr: "P-256 scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := tt.keys.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestVAPIDKeysCanonical(t *testing.T) {
	t.Parallel()

	k := newVAPIDKeys(t)
	pub, err := base64.RawURLEncoding.DecodeString(k.PublicKey)
	require.NoError(t, err)
	priv, err := base64.RawURLEncoding.DecodeString(k.PrivateKey)
	require.NoError(t, err)
	std := domain.VAPIDKeys{PublicKey: base64.StdEncoding.EncodeToString(pub), PrivateKey: base64.StdEncoding.EncodeToString(priv)}
	require.Equal(t, k, std.Canonical())
	require.Equal(t, k, k.Canonical())
	require.Equal(t, domain.VAPIDKeys{PublicKey: "!!!", PrivateKey: k.PrivateKey},
		domain.VAPIDKeys{PublicKey: "!!!", PrivateKey: k.PrivateKey}.Canonical(), "left for Validate")
}
