package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evpower/evpush/adapters/auth"
	"github.com/evpower/evpush/domain"
)

// fuzzSecret is the HS256 secret of the fuzzed verifier.
var fuzzSecret = []byte("fuzz-secret-of-at-least-32-bytes!!")

// fuzzRSAPublicKey is the RS256 key of the fuzzed verifier. Its private key
// was thrown away after signing fuzzRS256Token, so the seed is deterministic.
const fuzzRSAPublicKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAopaSwQ6vZu2siPZiNrux
ByhpmvBnx8bvDqURfnacMQvv7qmkYyqLSEQuMxrc3NKlQl/eIHfe6w+iumSdPE2z
OdkI8t5KpCrN3igDWNlGR7YVs8EUuXQ0TPLunldOHHHxjb8HkFMGtLkVnli/uEaY
gJNW+V10YVyyx8idwKtcxmJhaK+k8R/yVHV2nmwTqSlhkc6wQjf4hLTAHittGNvV
0+jWbGx4njd+hmw0zzWj0I+bIRksJ09nQddLmp6uxHxeTbEnqUWSVvrGwRk/xRWc
OCe+lRn95prxKisnLmIfmR9z+2xPZq88DDwKxmEu2y6msEr4WZjtjNwBUtPj7KSu
VQIDAQAB
-----END PUBLIC KEY-----
`

// fuzzRS256Token is {"sub":"rsa-user","user_type":"owner","exp":4102444800}
// (2100-01-01) signed RS256 with fuzzRSAPublicKey's private key.
const fuzzRS256Token = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." +
	"eyJzdWIiOiJyc2EtdXNlciIsInVzZXJfdHlwZSI6Im93bmVyIiwiZXhwIjo0MTAyNDQ0ODAwfQ." +
	"AyeS7o9czeqzflwvLIi6aRB2VbNBwbWKBF8_hcqo3aHZatD52CyHluHlw4VcAw-GwkpTMyeuwSCs4IclMRSYtq7uH2Ufm2ASZdqOblLJXEfiCJEbI9t1" +
	"Z8K6uUxmXW0uyBadrSPLSsUpFuFS8xHmfkVnRRwk7edYOs9aB0mu6K6iWWKDsOdsnPKmvt_2ETOqN2UYLEIF_fWKfk2n0f9WFwNH87oO53aq3WabnLCf" +
	"rAl1bltYD9sxm5m0W0-58rRbbsa9vYkC5Z-15Tn8mwdX4z8_UMSmt9EsUb4350cagKwZ2TmJY-W22odwIEC8V-4mhLERSrjdas8exDpv8TZgzw"

// Fixed instants, so minted seeds are the same on every run.
var (
	fuzzIssued = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fuzzFar    = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// knownReasons are every message Verify may give (auth_test.go's reasons
// plus the catch-all); none of them echoes the token.
var knownReasons = map[string]bool{
	reasonMissing: true, reasonMalformed: true, reasonExpired: true, reasonNotYet: true,
	reasonNoExp: true, reasonNoSub: true, reasonSignature: true, reasonAlg: true,
	reasonIssuer: true, reasonAudience: true, "invalid token": true,
	reasonBadSub: true, reasonBadUserType: true, reasonBadRole: true,
	reasonNoRole: true, reasonCrit: true,
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hsToken signs arbitrary header and payload JSON with key, deterministically.
func hsToken(key []byte, header, payload string) string {
	in := b64(header) + "." + b64(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signingInput is what a token's signature covers: everything before the last dot.
func signingInput(token string) string {
	if i := strings.LastIndexByte(token, '.'); i >= 0 {
		return token[:i]
	}
	return token
}

// FuzzVerify feeds arbitrary strings to a verifier that accepts HS256 and
// RS256. Verify must never panic, must refuse with an AuthError that unwraps
// to ErrUnauthenticated and carries a fixed reason, and may accept only what
// one of the real keys signed: the fuzzer knows no key, so a success must
// reuse the signed part of a seed token.
func FuzzVerify(f *testing.F) {
	pub, err := auth.ParsePublicKeyPEM([]byte(fuzzRSAPublicKey))
	if err != nil {
		f.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: fuzzSecret, PublicKey: pub})
	if err != nil {
		f.Fatal(err)
	}
	mint := func(sub string, ut domain.UserType, ttl time.Duration, now time.Time) string {
		tok, err := auth.Mint(fuzzSecret, auth.Shape{}, sub, ut, ttl, now)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	valid := mint("fuzz-user", domain.UserTypeClient, fuzzFar.Sub(fuzzIssued), fuzzIssued)
	const hs = `{"alg":"HS256","typ":"JWT"}`
	const far = `4102444800` // 2100-01-01
	signed := []string{
		valid,
		fuzzRS256Token,
		mint("owner-7", domain.UserTypeOwner, fuzzFar.Sub(fuzzIssued), fuzzIssued),
		mint("no-role", "", fuzzFar.Sub(fuzzIssued), fuzzIssued),
		mint("fuzz-user", domain.UserTypeClient, time.Hour, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), // expired
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"nbf":`+far+`}`),                               // not valid yet
		hsToken(fuzzSecret, hs, `{"sub":"u"}`),                                                           // no exp
		hsToken(fuzzSecret, hs, `{"exp":`+far+`}`),                                                       // no sub
		hsToken(fuzzSecret, hs, `{"sub":"","exp":`+far+`}`),
		hsToken(fuzzSecret, hs, `{"sub":123,"exp":`+far+`}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":"`+far+`"}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":1e300}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":-1e300}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`.999999}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"iat":1e300}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"aud":["a",1]}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"user_type":{"x":1}}`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"role":"owner"}`),
		hsToken(fuzzSecret, hs, `[]`),
		hsToken(fuzzSecret, hs, `null`),
		hsToken(fuzzSecret, hs, `{"sub":"u","exp":`+far+`,"sub":"v"}`),
		hsToken(fuzzSecret, `{"alg":"HS256","crit":["exp"]}`, `{"sub":"u","exp":`+far+`}`),
		hsToken(fuzzSecret, `{"alg":"hs256"}`, `{"sub":"u","exp":`+far+`}`),
		hsToken(fuzzSecret, `{"alg":"HS512"}`, `{"sub":"u","exp":`+far+`}`),
		hsToken(fuzzSecret, `{"alg":"RS256"}`, `{"sub":"u","exp":`+far+`}`), // HS signature under an RS header
		hsToken(fuzzSecret, `{"alg":["HS256"]}`, `{"sub":"u","exp":`+far+`}`),
		hsToken(fuzzSecret, `{}`, `{"sub":"u","exp":`+far+`}`),
	}
	for _, tok := range []string{valid, fuzzRS256Token} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			f.Fatalf("seed token does not verify: %v", err)
		}
	}
	allowed := map[string]bool{}
	for _, tok := range signed {
		allowed[signingInput(tok)] = true
		f.Add(tok)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u", "exp": 4102444800}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	head, payload, _ := strings.Cut(valid, ".")
	payload, sig, _ := strings.Cut(payload, ".")
	for _, s := range []string{
		none,
		hsToken([]byte(fuzzRSAPublicKey), `{"alg":"HS256"}`, `{"sub":"u","exp":`+far+`}`), // HS/RS confusion
		hsToken([]byte("another-secret-of-32-bytes-or-more"), hs, `{"sub":"u","exp":`+far+`}`),
		b64(`{"alg":"ES256"}`) + "." + payload + "." + sig,
		b64(`{"alg":"none"}`) + "." + payload + ".",
		b64(`{"alg":"None"}`) + "." + payload + ".",
		head + "." + payload + ".",
		head + "." + payload,
		head + "." + payload + "." + sig + "." + sig,
		head + "." + payload + "." + sig[:len(sig)-1] + "A",
		head + "." + payload + "." + sig + "=",
		head + "==." + payload + "." + sig,
		" " + valid + " ",
		"Bearer " + valid,
		"", " ", ".", "..", "...", "a.b.c", "e30.e30.", "e30.e30.e30",
		"garbage", "\x00", "\xff\xfe.\xff.\xff", "🔑.🔑.🔑",
		strings.Repeat("A", 10000) + "." + strings.Repeat("B", 10000) + "." + strings.Repeat("C", 10000),
		strings.Repeat(".", 1000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("Verify(%q): error %T %v does not unwrap to ErrUnauthenticated", token, err, err)
			}
			var aerr *domain.AuthError
			if !errors.As(err, &aerr) || !knownReasons[aerr.Reason] {
				t.Fatalf("Verify(%q): unexpected refusal %T %q", token, err, err)
			}
			if p != (domain.Principal{}) {
				t.Fatalf("Verify(%q): refused but returned principal %+v", token, p)
			}
			return
		}
		if !allowed[signingInput(token)] {
			t.Fatalf("Verify accepted %q, which no configured key signed: principal %+v", token, p)
		}
		if p.UserID == "" {
			t.Fatalf("Verify(%q) accepted a token without a user id", token)
		}
	})
}
