package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/auth"
	"github.com/evpower/evpush/domain"
)

var secret = []byte("test-secret-of-at-least-32-bytes!!")

// Reasons the verifier gives; each kind of refusal has its own.
const (
	reasonMissing   = "missing bearer token"
	reasonMalformed = "malformed token"
	reasonExpired   = "token expired"
	reasonNotYet    = "token not valid yet"
	reasonNoExp     = "token has no exp claim"
	reasonNoSub     = "token has no sub claim"
	reasonSignature = "invalid token signature"
	reasonAlg       = "signing algorithm not accepted"
	reasonIssuer    = "wrong token issuer"
	reasonAudience  = "wrong token audience"
	reasonNoRole    = "token has no user_type or role claim"
	reasonCrit      = "token uses critical extensions (crit) this service does not support"

	reasonBadSub      = "token's sub claim is not a string or an integer"
	reasonBadUserType = "token's user_type claim is not a string"
	reasonBadRole     = "token's role claim is not a string"
)

// sign signs claims with method and key.
func sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(tb, err)
	return s
}

// hs256 signs claims with the test secret.
func hs256(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	return sign(tb, jwt.SigningMethodHS256, secret, claims)
}

// validClaims is a token for user-1 valid for an hour, plus extra claims.
func validClaims(extra jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": "user-1",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// unsigned builds an alg "none" token by hand.
func unsigned(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(tb, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func newVerifier(tb testing.TB, cfg auth.Config) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewVerifier(cfg)
	require.NoError(tb, err)
	return v
}

// requireRefused checks that err is an *domain.AuthError with reason, unwrapping
// to domain.ErrUnauthenticated.
func requireRefused(tb testing.TB, err error, reason string) {
	tb.Helper()
	require.Error(tb, err)
	require.ErrorIs(tb, err, domain.ErrUnauthenticated)
	var aerr *domain.AuthError
	require.True(tb, errors.As(err, &aerr), "want *domain.AuthError, got %T", err)
	require.NotEmpty(tb, aerr.Reason)
	if reason != "" {
		require.Equal(tb, reason, aerr.Reason)
	}
}

func pemPublicKey(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rsaKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(tb, err)
	return k
}

func ecKey(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	require.NoError(tb, err)
	return k
}

func TestVerifyHS256Principal(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: secret, AllowNoRole: true})
	tests := []struct {
		name  string
		extra jwt.MapClaims
		want  domain.Principal
	}{
		{"user_type", jwt.MapClaims{"user_type": "owner"}, domain.Principal{UserID: "user-1", UserType: domain.UserTypeOwner}},
		{"role fallback", jwt.MapClaims{"role": "client"}, domain.Principal{UserID: "user-1", UserType: domain.UserTypeClient}},
		{"user_type wins over role", jwt.MapClaims{"user_type": "client", "role": "owner"}, domain.Principal{UserID: "user-1", UserType: domain.UserTypeClient}},
		{"no role", nil, domain.Principal{UserID: "user-1"}},
		{"numeric-looking sub", jwt.MapClaims{"sub": "42"}, domain.Principal{UserID: "42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(context.Background(), hs256(t, validClaims(tt.extra)))
			require.NoError(t, err)
			require.Equal(t, tt.want, p)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	rsaPriv := rsaKey(t)
	now := time.Now()
	hsOnly := newVerifier(t, auth.Config{Secret: secret})
	rsaOnly := newVerifier(t, auth.Config{PublicKey: &rsaPriv.PublicKey})
	strict := newVerifier(t, auth.Config{Secret: secret, Issuer: "evpower-backend", Audience: "evpush"})

	tests := []struct {
		name   string
		v      *auth.Verifier
		token  string
		reason string
	}{
		{"empty", hsOnly, "", reasonMissing},
		{"one segment", hsOnly, "abc", reasonMalformed},
		{"garbage segments", hsOnly, "a.b.c", reasonMalformed},
		{"expired", hsOnly, hs256(t, validClaims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), reasonExpired},
		{"nbf in the future", hsOnly, hs256(t, validClaims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), reasonNotYet},
		{"missing exp", hsOnly, hs256(t, validClaims(jwt.MapClaims{"exp": nil})), reasonNoExp},
		{"missing sub", hsOnly, hs256(t, validClaims(jwt.MapClaims{"sub": nil})), reasonNoSub},
		{"empty sub", hsOnly, hs256(t, validClaims(jwt.MapClaims{"sub": ""})), reasonNoSub},
		{"wrong secret", hsOnly, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret!!!"), validClaims(nil)), reasonSignature},
		{"tampered claims", hsOnly, tamper(t, hs256(t, validClaims(nil))), reasonSignature},
		{"alg none", hsOnly, unsigned(t, validClaims(nil)), reasonAlg},
		{"alg none, RSA configured", rsaOnly, unsigned(t, validClaims(nil)), reasonAlg},
		{"HS384 not configured", hsOnly, sign(t, jwt.SigningMethodHS384, secret, validClaims(nil)), reasonAlg},
		{"RS256 with only a secret", hsOnly, sign(t, jwt.SigningMethodRS256, rsaPriv, validClaims(nil)), reasonAlg},
		{
			"HS256 keyed with the RSA public PEM (alg confusion)", rsaOnly,
			sign(t, jwt.SigningMethodHS256, pemPublicKey(t, &rsaPriv.PublicKey), validClaims(nil)), reasonAlg,
		},
		{"issuer mismatch", strict, hs256(t, validClaims(jwt.MapClaims{"iss": "someone-else", "aud": "evpush"})), reasonIssuer},
		{"audience mismatch", strict, hs256(t, validClaims(jwt.MapClaims{"iss": "evpower-backend", "aud": "other"})), reasonAudience},
		// The reason for a missing iss/aud is not pinned: see the report
		// (it says "token has no exp claim").
		{"issuer missing", strict, hs256(t, validClaims(jwt.MapClaims{"aud": "evpush"})), reasonIssuer},
		{"audience missing", strict, hs256(t, validClaims(jwt.MapClaims{"iss": "evpower-backend"})), reasonAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(context.Background(), tt.token)
			requireRefused(t, err, tt.reason)
			require.Zero(t, p)
		})
	}

	t.Run("issuer and audience match", func(t *testing.T) {
		t.Parallel()
		p, err := strict.Verify(context.Background(),
			hs256(t, validClaims(jwt.MapClaims{"iss": "evpower-backend", "aud": []string{"x", "evpush"}, "user_type": "client"})))
		require.NoError(t, err)
		require.Equal(t, "user-1", p.UserID)
	})
}

// tamper changes the sub in the token's claims and keeps the old signature.
func tamper(tb testing.TB, token string) string {
	tb.Helper()
	parts := strings.Split(token, ".")
	require.Len(tb, parts, 3)
	var c map[string]any
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(tb, err)
	require.NoError(tb, json.Unmarshal(b, &c))
	c["sub"] = "admin"
	b, err = json.Marshal(c)
	require.NoError(tb, err)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	expired10s := jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix(), "user_type": "client"}
	tests := []struct {
		name   string
		leeway time.Duration
		ok     bool
	}{
		{"30s leeway accepts", 30 * time.Second, true},
		{"no leeway refuses", 0, false},
		{"5s leeway refuses", 5 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, auth.Config{Secret: secret, Leeway: tt.leeway})
			p, err := v.Verify(context.Background(), hs256(t, validClaims(expired10s)))
			if tt.ok {
				require.NoError(t, err)
				require.Equal(t, "user-1", p.UserID)
				return
			}
			requireRefused(t, err, reasonExpired)
		})
	}
}

func TestVerifyPublicKeys(t *testing.T) {
	t.Parallel()
	rsaPriv := rsaKey(t)
	ecPriv := ecKey(t, elliptic.P256())
	otherEC := ecKey(t, elliptic.P256())
	otherRSA := rsaKey(t)

	tests := []struct {
		name    string
		pub     crypto.PublicKey
		method  jwt.SigningMethod
		signKey any
		reason  string // "" means accepted
	}{
		{"RS256", &rsaPriv.PublicKey, jwt.SigningMethodRS256, rsaPriv, ""},
		{"ES256", &ecPriv.PublicKey, jwt.SigningMethodES256, ecPriv, ""},
		{"RS256 other key", &rsaPriv.PublicKey, jwt.SigningMethodRS256, otherRSA, reasonSignature},
		{"ES256 other key", &ecPriv.PublicKey, jwt.SigningMethodES256, otherEC, reasonSignature},
		{"RS512 with RSA key", &rsaPriv.PublicKey, jwt.SigningMethodRS512, rsaPriv, reasonAlg},
		{"PS256 with RSA key", &rsaPriv.PublicKey, jwt.SigningMethodPS256, rsaPriv, reasonAlg},
		{"RS256 with EC key configured", &ecPriv.PublicKey, jwt.SigningMethodRS256, rsaPriv, reasonAlg},
		{"ES256 with RSA key configured", &rsaPriv.PublicKey, jwt.SigningMethodES256, ecPriv, reasonAlg},
		{"HS256 keyed with EC public PEM", &ecPriv.PublicKey, jwt.SigningMethodHS256, pemPublicKey(t, &ecPriv.PublicKey), reasonAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Go through the PEM form, as the service is configured.
			pub, err := auth.ParsePublicKeyPEM(pemPublicKey(t, tt.pub))
			require.NoError(t, err)
			v := newVerifier(t, auth.Config{PublicKey: pub})
			p, err := v.Verify(context.Background(), sign(t, tt.method, tt.signKey, validClaims(jwt.MapClaims{"user_type": "owner"})))
			if tt.reason == "" {
				require.NoError(t, err)
				require.Equal(t, domain.Principal{UserID: "user-1", UserType: domain.UserTypeOwner}, p)
				return
			}
			requireRefused(t, err, tt.reason)
		})
	}
}

func TestVerifySecretAndPublicKey(t *testing.T) {
	t.Parallel()
	rsaPriv := rsaKey(t)
	v := newVerifier(t, auth.Config{Secret: secret, PublicKey: &rsaPriv.PublicKey, AllowNoRole: true})

	p, err := v.Verify(context.Background(), hs256(t, validClaims(nil)))
	require.NoError(t, err)
	require.Equal(t, "user-1", p.UserID)

	p, err = v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, rsaPriv, validClaims(nil)))
	require.NoError(t, err)
	require.Equal(t, "user-1", p.UserID)

	// An HS256 token keyed with the public PEM must still fail: HMAC is
	// checked against the secret only.
	_, err = v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, pemPublicKey(t, &rsaPriv.PublicKey), validClaims(nil)))
	requireRefused(t, err, reasonSignature)
}

func TestParsePublicKeyPEM(t *testing.T) {
	t.Parallel()
	rsaPriv := rsaKey(t)
	ecPriv := ecKey(t, elliptic.P256())

	t.Run("RSA", func(t *testing.T) {
		t.Parallel()
		k, err := auth.ParsePublicKeyPEM(pemPublicKey(t, &rsaPriv.PublicKey))
		require.NoError(t, err)
		got, ok := k.(*rsa.PublicKey)
		require.True(t, ok, "got %T", k)
		require.True(t, got.Equal(&rsaPriv.PublicKey))
	})
	t.Run("EC", func(t *testing.T) {
		t.Parallel()
		k, err := auth.ParsePublicKeyPEM(pemPublicKey(t, &ecPriv.PublicKey))
		require.NoError(t, err)
		got, ok := k.(*ecdsa.PublicKey)
		require.True(t, ok, "got %T", k)
		require.True(t, got.Equal(&ecPriv.PublicKey))
	})
	for name, in := range map[string][]byte{
		"empty":       nil,
		"not PEM":     []byte("hello"),
		"private key": privatePEM(t, ecPriv),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.ParsePublicKeyPEM(in)
			require.Error(t, err)
		})
	}
}

func privatePEM(tb testing.TB, k *ecdsa.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestNewVerifierRefusesConfig(t *testing.T) {
	t.Parallel()
	p384 := ecKey(t, elliptic.P384())
	p384PEM, err := auth.ParsePublicKeyPEM(pemPublicKey(t, &p384.PublicKey))
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  auth.Config
	}{
		{"no key", auth.Config{}},
		{"empty secret", auth.Config{Secret: []byte{}}},
		{"EC P-384", auth.Config{PublicKey: &p384.PublicKey}},
		{"EC P-384 from PEM", auth.Config{PublicKey: p384PEM}},
		{"EC P-384 with a secret", auth.Config{Secret: secret, PublicKey: &p384.PublicKey}},
		{"unsupported key type", auth.Config{PublicKey: "not a key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := auth.NewVerifier(tt.cfg)
			require.Error(t, err)
			require.Nil(t, v)
		})
	}
}

func TestMintRoundTrip(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: secret, AllowNoRole: true})
	tests := []struct {
		name     string
		userType domain.UserType
	}{
		{"client", domain.UserTypeClient},
		{"owner", domain.UserTypeOwner},
		{"no role", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := auth.Mint(secret, auth.Shape{}, "user-7", tt.userType, time.Hour, time.Now())
			require.NoError(t, err)
			p, err := v.Verify(context.Background(), tok)
			require.NoError(t, err)
			require.Equal(t, domain.Principal{UserID: "user-7", UserType: tt.userType}, p)
		})
	}

	t.Run("expired mint", func(t *testing.T) {
		t.Parallel()
		tok, err := auth.Mint(secret, auth.Shape{}, "user-7", "", time.Minute, time.Now().Add(-time.Hour))
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), tok)
		requireRefused(t, err, reasonExpired)
	})
	t.Run("other secret", func(t *testing.T) {
		t.Parallel()
		tok, err := auth.Mint([]byte("a-different-secret-a-different-s"), auth.Shape{}, "user-7", "", time.Hour, time.Now())
		require.NoError(t, err)
		_, err = v.Verify(context.Background(), tok)
		requireRefused(t, err, reasonSignature)
	})
}

func TestVerifyReasonNeverEchoesToken(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: secret})
	tok := sign(t, jwt.SigningMethodHS256, []byte("wrong-secret-wrong-secret-wrong!"), validClaims(nil))
	_, err := v.Verify(context.Background(), tok)
	requireRefused(t, err, reasonSignature)
	for _, part := range strings.Split(tok, ".") {
		require.NotContains(t, err.Error(), part)
	}
}

// TestSignatureMustBeCanonical: changing the unused low bits of the last
// base64 character of the signature makes another string; it is refused.
func TestSignatureMustBeCanonical(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	require.NoError(t, err)
	tok, err := auth.Mint(secret, auth.Shape{}, "u1", domain.UserTypeClient, time.Hour, time.Now())
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), tok)
	require.NoError(t, err)
	last := tok[len(tok)-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	// An HS256 signature is 32 bytes: 43 characters, the last carrying 2 unused bits.
	tampered := tok[:len(tok)-1] + string(alphabet[i^1])
	_, err = v.Verify(context.Background(), tampered)
	require.ErrorIs(t, err, domain.ErrUnauthenticated)
}

// hsPayload signs a payload written as raw JSON (numbers exactly as given)
// with the test secret.
func hsPayload(payload string) string {
	return hsToken(secret, `{"alg":"HS256","typ":"JWT"}`, payload)
}

// farExp is an exp claim far in the future, for hand-written payloads.
const farExp = `"exp":4102444800`

func TestVerifyUserClaim(t *testing.T) {
	t.Parallel()
	// Role-less tokens: these cases are about the user claim.
	byDefault := newVerifier(t, auth.Config{Secret: secret, AllowNoRole: true})
	custom := newVerifier(t, auth.Config{Secret: secret, UserClaim: "user_id", AllowNoRole: true})
	tests := []struct {
		name    string
		v       *auth.Verifier
		payload string
		want    string
	}{
		{"integer sub", byDefault, `{"sub":42,` + farExp + `}`, "42"},
		{"integer written as float", byDefault, `{"sub":42.0,` + farExp + `}`, "42"},
		{"integer with exponent", byDefault, `{"sub":4.2e1,` + farExp + `}`, "42"},
		{"negative integer", byDefault, `{"sub":-7,` + farExp + `}`, "-7"},
		{"zero", byDefault, `{"sub":0,` + farExp + `}`, "0"},
		{"past float64 precision", byDefault, `{"sub":9007199254740993,` + farExp + `}`, "9007199254740993"},
		{"largest int64", byDefault, `{"sub":9223372036854775807,` + farExp + `}`, "9223372036854775807"},
		{"string sub", byDefault, `{"sub":"u-1",` + farExp + `}`, "u-1"},
		{"custom claim, string", custom, `{"user_id":"u-9","sub":"other",` + farExp + `}`, "u-9"},
		{"custom claim, integer", custom, `{"user_id":42,"sub":"other",` + farExp + `}`, "42"},
		{"custom claim, sub of another type ignored", custom, `{"user_id":42,"sub":true,` + farExp + `}`, "42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(context.Background(), hsPayload(tt.payload))
			require.NoError(t, err)
			require.Equal(t, domain.Principal{UserID: tt.want}, p)
		})
	}
}

func TestVerifyBadClaimTypes(t *testing.T) {
	t.Parallel()
	byDefault := newVerifier(t, auth.Config{Secret: secret})
	custom := newVerifier(t, auth.Config{Secret: secret, UserClaim: "user_id", RoleClaim: "account_type"})
	const (
		reasonNoUserID  = "token has no user_id claim"
		reasonBadUserID = "token's user_id claim is not a string or an integer"
		reasonBadAcct   = "token's account_type claim is not a string"
	)
	tests := []struct {
		name    string
		v       *auth.Verifier
		payload string
		reason  string
	}{
		{"sub with a fraction", byDefault, `{"sub":42.5,` + farExp + `}`, reasonBadSub},
		{"sub with a tiny fraction", byDefault, `{"sub":42.0000000000000001,` + farExp + `}`, reasonBadSub},
		{"sub past int64", byDefault, `{"sub":9223372036854775808,` + farExp + `}`, reasonBadSub},
		{"sub huge exponent", byDefault, `{"sub":1e400,` + farExp + `}`, reasonBadSub},
		{"sub negative exponent", byDefault, `{"sub":1e-400,` + farExp + `}`, reasonBadSub},
		{"sub true", byDefault, `{"sub":true,` + farExp + `}`, reasonBadSub},
		{"sub false", byDefault, `{"sub":false,` + farExp + `}`, reasonBadSub},
		{"sub object", byDefault, `{"sub":{"id":42},` + farExp + `}`, reasonBadSub},
		{"sub array", byDefault, `{"sub":["42"],` + farExp + `}`, reasonBadSub},
		{"sub null", byDefault, `{"sub":null,` + farExp + `}`, reasonNoSub},
		{"sub empty", byDefault, `{"sub":"",` + farExp + `}`, reasonNoSub},
		{"user_type number", byDefault, `{"sub":"u","user_type":1,` + farExp + `}`, reasonBadUserType},
		{"user_type object", byDefault, `{"sub":"u","user_type":{"x":1},` + farExp + `}`, reasonBadUserType},
		{"role boolean", byDefault, `{"sub":"u","role":true,` + farExp + `}`, reasonBadRole},
		{"role array beside a good user_type", byDefault, `{"sub":"u","user_type":"client","role":["owner"],` + farExp + `}`, reasonBadRole},
		{"custom user claim missing", custom, `{"sub":"u",` + farExp + `}`, reasonNoUserID},
		{"custom user claim empty", custom, `{"user_id":"",` + farExp + `}`, reasonNoUserID},
		{"custom user claim float", custom, `{"user_id":1.5,` + farExp + `}`, reasonBadUserID},
		{"custom user claim boolean", custom, `{"user_id":true,` + farExp + `}`, reasonBadUserID},
		{"custom role claim number", custom, `{"user_id":"u","account_type":2,` + farExp + `}`, reasonBadAcct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(context.Background(), hsPayload(tt.payload))
			requireRefused(t, err, tt.reason)
			require.Zero(t, p)
		})
	}

	t.Run("claims are read only once the signature holds", func(t *testing.T) {
		t.Parallel()
		_, err := byDefault.Verify(context.Background(), unsigned(t, validClaims(jwt.MapClaims{"sub": true})))
		requireRefused(t, err, reasonAlg)
		bad := hsToken([]byte("another-secret-another-secret!!!"), `{"alg":"HS256"}`, `{"sub":true,`+farExp+`}`)
		_, err = byDefault.Verify(context.Background(), bad)
		requireRefused(t, err, reasonSignature)
	})
}

func TestVerifyRoleClaim(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: secret, RoleClaim: "account_type", AllowNoRole: true})
	tests := []struct {
		name  string
		extra jwt.MapClaims
		want  domain.UserType
	}{
		{"custom claim", jwt.MapClaims{"account_type": "owner"}, domain.UserTypeOwner},
		{"custom claim wins over user_type", jwt.MapClaims{"account_type": "client", "user_type": "owner"}, domain.UserTypeClient},
		{"user_type not read", jwt.MapClaims{"user_type": "owner"}, ""},
		{"role not read", jwt.MapClaims{"role": "owner"}, ""},
		{"other value", jwt.MapClaims{"account_type": "admin"}, "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(context.Background(), hs256(t, validClaims(tt.extra)))
			require.NoError(t, err)
			require.Equal(t, domain.Principal{UserID: "user-1", UserType: tt.want}, p)
		})
	}
}

func TestVerifyRoleValues(t *testing.T) {
	t.Parallel()
	mapping, err := auth.ParseRoleValues("client:driver,client:user,owner:station_owner")
	require.NoError(t, err)
	byDefault := newVerifier(t, auth.Config{Secret: secret, RoleValues: mapping, AllowNoRole: true})
	custom := newVerifier(t, auth.Config{Secret: secret, RoleClaim: "account_type", RoleValues: mapping, AllowNoRole: true})

	type may struct{ client, owner bool }
	tests := []struct {
		name  string
		v     *auth.Verifier
		extra jwt.MapClaims
		want  may
	}{
		{"driver is client", byDefault, jwt.MapClaims{"user_type": "driver"}, may{client: true}},
		{"user is client too", byDefault, jwt.MapClaims{"user_type": "user"}, may{client: true}},
		{"station_owner is owner", byDefault, jwt.MapClaims{"user_type": "station_owner"}, may{owner: true}},
		{"mapped role fallback", byDefault, jwt.MapClaims{"role": "station_owner"}, may{owner: true}},
		{"mapped custom claim", custom, jwt.MapClaims{"account_type": "driver", "user_type": "station_owner"}, may{client: true}},
		{"unmapped value", byDefault, jwt.MapClaims{"user_type": "admin"}, may{}},
		{"our client unmapped", byDefault, jwt.MapClaims{"user_type": "client"}, may{}},
		{"our owner unmapped", byDefault, jwt.MapClaims{"user_type": "owner"}, may{}},
		{"our owner unmapped, custom claim", custom, jwt.MapClaims{"account_type": "owner"}, may{}},
		{"compared exactly", byDefault, jwt.MapClaims{"user_type": "Driver"}, may{}},
		// With AllowNoRole (JWT_REQUIRE_ROLE=false) a token without a role
		// may act in either; TestVerifyRoleRequired covers the default.
		{"no role claim", byDefault, nil, may{client: true, owner: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(context.Background(), hs256(t, validClaims(tt.extra)))
			require.NoError(t, err)
			require.Equal(t, "user-1", p.UserID)
			require.Equal(t, tt.want, may{p.MayActAs(domain.UserTypeClient), p.MayActAs(domain.UserTypeOwner)})
		})
	}

	t.Run("our own names count when mapped", func(t *testing.T) {
		t.Parallel()
		m, err := auth.ParseRoleValues("client:client,client:driver,owner:owner")
		require.NoError(t, err)
		v := newVerifier(t, auth.Config{Secret: secret, RoleValues: m})
		for value, want := range map[string]domain.UserType{
			"client": domain.UserTypeClient, "driver": domain.UserTypeClient, "owner": domain.UserTypeOwner,
		} {
			p, err := v.Verify(context.Background(), hs256(t, validClaims(jwt.MapClaims{"user_type": value})))
			require.NoError(t, err)
			require.Equal(t, want, p.UserType, value)
		}
	})
}

func TestParseRoleValues(t *testing.T) {
	t.Parallel()
	m, err := auth.ParseRoleValues(" client:driver , client: user,owner:station_owner,owner:a:b,, client:driver")
	require.NoError(t, err)
	require.Equal(t, map[string]domain.UserType{
		"driver": domain.UserTypeClient, "user": domain.UserTypeClient,
		"station_owner": domain.UserTypeOwner, "a:b": domain.UserTypeOwner,
	}, m)

	for _, bad := range []string{
		"", " , ", "driver", "client:", ":driver", "client=driver",
		"admin:driver", "Client:driver", "driver:client",
		"client:driver,owner:driver",
	} {
		_, err := auth.ParseRoleValues(bad)
		require.Error(t, err, bad)
	}
}

func TestNewVerifierRefusesClaimConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]auth.Config{
		"user claim exp":                     {UserClaim: "exp"},
		"role claim iat":                     {RoleClaim: "iat"},
		"user claim is role claim":           {UserClaim: "uid", RoleClaim: "uid"},
		"user claim is a default role claim": {UserClaim: "role"},
		"mapped to an unknown role":          {RoleValues: map[string]domain.UserType{"driver": "admin"}},
	} {
		cfg.Secret = secret
		_, err := auth.NewVerifier(cfg)
		require.Error(t, err, name)
	}
}

// TestMintInTheConfiguredShape: development tokens (DEV_MODE, evpush token)
// carry the claims the verifier is configured to read, so they keep working
// with JWT_USER_CLAIM, JWT_ROLE_CLAIM and JWT_ROLE_VALUES set.
func TestMintInTheConfiguredShape(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-s3cret-s3cret-s3cret-s3cret")
	values, err := auth.ParseRoleValues("client:user,client:driver,owner:station_owner")
	require.NoError(t, err)
	shape := auth.Shape{UserClaim: "uid", RoleClaim: "kind", RoleValues: values}
	v, err := auth.NewVerifier(auth.Config{Secret: secret, UserClaim: "uid", RoleClaim: "kind", RoleValues: values})
	require.NoError(t, err)
	for _, role := range []domain.UserType{domain.UserTypeClient, domain.UserTypeOwner} {
		tok, err := auth.Mint(secret, shape, "u-1", role, time.Hour, time.Now())
		require.NoError(t, err)
		p, err := v.Verify(t.Context(), tok)
		require.NoError(t, err)
		require.Equal(t, domain.Principal{UserID: "u-1", UserType: role}, p)
	}
	claims := jwt.MapClaims{}
	tok, err := auth.Mint(secret, shape, "u-1", domain.UserTypeClient, time.Hour, time.Now())
	require.NoError(t, err)
	_, _, err = jwt.NewParser().ParseUnverified(tok, claims)
	require.NoError(t, err)
	require.Equal(t, "driver", claims["kind"], "the first backend value of the role, sorted")
	require.NotContains(t, claims, "sub")
}

// TestVerifyRoleRequired: by default a token must name its role; a role-less
// token of the backend (issued for anything) would otherwise subscribe as
// owner. AllowNoRole (JWT_REQUIRE_ROLE=false, DEV_MODE) lets it in.
func TestVerifyRoleRequired(t *testing.T) {
	t.Parallel()
	byDefault := newVerifier(t, auth.Config{Secret: secret})
	custom := newVerifier(t, auth.Config{Secret: secret, RoleClaim: "account_type"})
	mapped := newVerifier(t, auth.Config{Secret: secret, RoleValues: map[string]domain.UserType{"driver": domain.UserTypeClient}})
	allowing := newVerifier(t, auth.Config{Secret: secret, AllowNoRole: true})
	tests := []struct {
		name   string
		v      *auth.Verifier
		extra  jwt.MapClaims
		reason string // "" means accepted
	}{
		{"no role claim", byDefault, nil, reasonNoRole},
		{"empty user_type", byDefault, jwt.MapClaims{"user_type": ""}, reasonNoRole},
		{"empty user_type and role", byDefault, jwt.MapClaims{"user_type": "", "role": ""}, reasonNoRole},
		{"user_type given", byDefault, jwt.MapClaims{"user_type": "client"}, ""},
		{"role given", byDefault, jwt.MapClaims{"role": "owner"}, ""},
		{"custom claim missing, user_type not read", custom, jwt.MapClaims{"user_type": "client"}, "token has no account_type claim"},
		{"custom claim given", custom, jwt.MapClaims{"account_type": "client"}, ""},
		// An unmapped value is a role, one that grants nothing: accepted here,
		// refused by the route.
		{"unmapped value", mapped, jwt.MapClaims{"user_type": "admin"}, ""},
		{"mapped, none given", mapped, nil, reasonNoRole},
		{"allowed without a role", allowing, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(t.Context(), hs256(t, validClaims(tt.extra)))
			if tt.reason != "" {
				requireRefused(t, err, tt.reason)
				require.Zero(t, p)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "user-1", p.UserID)
		})
	}
}

// TestVerifyRefusesCrit: RFC 7515 §4.1.11 makes a recipient refuse a token
// whose crit header lists an extension it does not understand. This service
// understands none, so any crit header is refused, even a well-signed token.
func TestVerifyRefusesCrit(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: secret, AllowNoRole: true})
	payload := `{"sub":"u","user_type":"client",` + farExp + `}`
	ok, err := v.Verify(t.Context(), hsToken(secret, `{"alg":"HS256","typ":"JWT"}`, payload))
	require.NoError(t, err, "the same token without crit is accepted")
	require.Equal(t, "u", ok.UserID)
	for _, header := range []string{
		`{"alg":"HS256","crit":["exp"]}`,
		`{"alg":"HS256","crit":["b64"],"b64":false}`,
		`{"alg":"HS256","crit":["http://example.com/ext"],"http://example.com/ext":true}`,
		`{"alg":"HS256","crit":[]}`,
		`{"alg":"HS256","crit":null}`,
		`{"alg":"HS256","crit":"exp"}`,
	} {
		p, err := v.Verify(t.Context(), hsToken(secret, header, payload))
		requireRefused(t, err, reasonCrit)
		require.Zero(t, p, header)
	}
	// A signature that does not hold is reported as such first.
	_, err = v.Verify(t.Context(), hsToken([]byte("another-secret-another-secret!!!"), `{"alg":"HS256","crit":["exp"]}`, payload))
	requireRefused(t, err, reasonSignature)
}
