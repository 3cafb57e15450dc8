// Package auth verifies the bearer JWTs that the main EvPower backend issues
// (ports.TokenVerifier on golang-jwt/v5) and mints development tokens.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Config says which tokens are accepted.
type Config struct {
	// Secret enables HS256.
	Secret []byte
	// PublicKey (*rsa.PublicKey or a P-256 *ecdsa.PublicKey) enables RS256 or ES256.
	PublicKey crypto.PublicKey
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer, Audience string
	// Leeway tolerates clock skew between the issuer and this service.
	Leeway time.Duration
}

// Verifier implements ports.TokenVerifier.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
}

var _ ports.TokenVerifier = (*Verifier)(nil)

// NewVerifier pins the accepted algorithms to the configured keys: a token
// naming any other algorithm ("none", HS256 when only an RSA key is set, …)
// is refused before its signature is looked at.
func NewVerifier(cfg Config) (*Verifier, error) {
	var methods []string
	if len(cfg.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	switch k := cfg.PublicKey.(type) {
	case nil:
	case *rsa.PublicKey:
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("JWT public key: only P-256 EC keys (ES256) are supported")
		}
		methods = append(methods, jwt.SigningMethodES256.Alg())
	default:
		return nil, fmt.Errorf("JWT public key: unsupported key type %T", k)
	}
	if len(methods) == 0 {
		return nil, errors.New("no JWT key configured")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		// One token, one encoding: without it the unused low bits of the
		// signature's last base64 character could be changed freely.
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// claims are the ones evpush reads; others are ignored.
type claims struct {
	jwt.RegisteredClaims
	UserType string `json:"user_type,omitempty"`
	Role     string `json:"role,omitempty"`
}

// Verify implements ports.TokenVerifier.
func (v *Verifier) Verify(_ context.Context, token string) (domain.Principal, error) {
	if token == "" {
		return domain.Principal{}, &domain.AuthError{Reason: "missing bearer token"}
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.key); err != nil {
		return domain.Principal{}, &domain.AuthError{Reason: reason(err)}
	}
	if c.Subject == "" {
		return domain.Principal{}, &domain.AuthError{Reason: "token has no sub claim"}
	}
	role := c.UserType
	if role == "" {
		role = c.Role
	}
	return domain.Principal{UserID: c.Subject, UserType: domain.UserType(role)}, nil
}

// key picks the verification key by the token's algorithm family; the parser
// has already refused algorithms that are not configured.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		return v.cfg.Secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
		return v.cfg.PublicKey, nil
	}
	return nil, jwt.ErrTokenUnverifiable
}

// reason turns a parser error into a short message for the 401 body; it never
// echoes the token.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// Missing iss/aud (when configured) come with this error too.
		switch msg := err.Error(); {
		case strings.Contains(msg, "iss claim"):
			return "wrong token issuer"
		case strings.Contains(msg, "aud claim"):
			return "wrong token audience"
		}
		return "token has no exp claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// golang-jwt reports a refused algorithm as a signature error
		// ("signing method X is invalid").
		if strings.Contains(err.Error(), "signing method") {
			return "signing algorithm not accepted"
		}
		return "invalid token signature"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong token issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong token audience"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "signing algorithm not accepted"
	}
	return "invalid token"
}

// Mint signs an HS256 development token for userID in role userType (empty:
// no role claim), valid for ttl. Production tokens come from the main backend.
func Mint(secret []byte, userID string, userType domain.UserType, ttl time.Duration, now time.Time) (string, error) {
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		UserType: string(userType),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// ParsePublicKeyPEM reads an RSA or EC public key (PKIX or certificate PEM).
func ParsePublicKeyPEM(pem []byte) (crypto.PublicKey, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, nil
	}
	k, err := jwt.ParseECPublicKeyFromPEM(pem)
	if err != nil {
		return nil, errors.New("not an RSA or EC public key in PEM form")
	}
	return k, nil
}

// DevMinter mints development tokens (DEV_MODE's sign-in).
type DevMinter struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time
}

// Mint signs a token for userID in role userType.
func (m DevMinter) Mint(userID string, userType domain.UserType) (string, time.Duration, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	tok, err := Mint(m.Secret, userID, userType, m.TTL, now())
	return tok, m.TTL, err
}
