// Package auth verifies the bearer JWTs that the main EvPower backend issues
// (ports.TokenVerifier on golang-jwt/v5) and mints development tokens.
package auth

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
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
	// UserClaim names the claim holding the user id, a string or an integer
	// (42 becomes "42"); empty: DefaultUserClaim.
	UserClaim string
	// RoleClaim names the one claim holding the role; empty: user_type, then
	// role (see RoleClaims).
	RoleClaim string
	// RoleValues, when not empty, maps the issuer's role values to ours:
	// only the values it lists give a role, even "client" and "owner". A
	// value it does not list lets the caller subscribe in neither role.
	RoleValues map[string]domain.UserType
	// AllowNoRole accepts a token without a role claim, which may then
	// subscribe in either role (DEV_MODE, JWT_REQUIRE_ROLE=false). Off, such
	// a token is refused: otherwise any token of the backend, whoever it was
	// issued to, could subscribe as a station owner.
	AllowNoRole bool
}

// DefaultUserClaim holds the user id unless Config.UserClaim says otherwise.
const DefaultUserClaim = "sub"

// RoleClaims are the claims the role is read from, in order, for
// Config.RoleClaim: that claim alone, or user_type and then role when empty.
func RoleClaims(roleClaim string) []string {
	if roleClaim != "" {
		return []string{roleClaim}
	}
	return []string{"user_type", "role"}
}

// CheckClaimName refuses, as a user or role claim, a registered claim whose
// meaning JWT fixes: a token's exp is no user id.
func CheckClaimName(name string) error {
	switch name {
	case "iss", "aud", "exp", "nbf", "iat", "jti":
		return fmt.Errorf("%q is a registered JWT claim with a meaning of its own", name)
	}
	return nil
}

// ParseRoleValues reads a role mapping such as
// "client:driver,client:user,owner:station_owner": each item is one of our
// roles, a colon, and a role value of the issuer (compared exactly; it may
// not contain a comma). Several values may give one role; one value may not
// give both.
func ParseRoleValues(s string) (map[string]domain.UserType, error) {
	m := map[string]domain.UserType{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		ours, theirs, ok := strings.Cut(item, ":")
		ours, theirs = strings.TrimSpace(ours), strings.TrimSpace(theirs)
		if !ok || ours == "" || theirs == "" {
			return nil, fmt.Errorf("%q is not role:value, e.g. client:driver", item)
		}
		t := domain.UserType(ours)
		if !t.Valid() {
			return nil, fmt.Errorf("%q: unknown role %q (client or owner)", item, ours)
		}
		if prev, dup := m[theirs]; dup && prev != t {
			return nil, fmt.Errorf("%q is mapped to both %s and %s", theirs, prev, t)
		}
		m[theirs] = t
	}
	if len(m) == 0 {
		return nil, errors.New("lists no role:value pair")
	}
	return m, nil
}

// Verifier implements ports.TokenVerifier.
type Verifier struct {
	cfg        Config
	parser     *jwt.Parser
	roleClaims []string
	// Reasons naming the user and role claims, built once.
	noUser, badUser, noRole string
}

var _ ports.TokenVerifier = (*Verifier)(nil)

// NewVerifier pins the accepted algorithms to the configured keys: a token
// naming any other algorithm ("none", HS256 when only an RSA key is set, …)
// is refused before its signature is looked at.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.UserClaim == "" {
		cfg.UserClaim = DefaultUserClaim
	}
	roleClaims := RoleClaims(cfg.RoleClaim)
	for _, name := range append([]string{cfg.UserClaim}, roleClaims...) {
		if err := CheckClaimName(name); err != nil {
			return nil, fmt.Errorf("JWT claim: %w", err)
		}
	}
	if slices.Contains(roleClaims, cfg.UserClaim) {
		return nil, fmt.Errorf("JWT claim: %q cannot hold both the user id and the role", cfg.UserClaim)
	}
	for theirs, ours := range cfg.RoleValues {
		if !ours.Valid() {
			return nil, fmt.Errorf("JWT role values: %q maps to unknown role %q", theirs, ours)
		}
	}
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
	return &Verifier{
		cfg: cfg, parser: jwt.NewParser(opts...), roleClaims: roleClaims,
		noUser:  "token has no " + cfg.UserClaim + " claim",
		badUser: "token's " + cfg.UserClaim + " claim is not a string or an integer",
		noRole:  "token has no " + strings.Join(roleClaims, " or ") + " claim",
	}, nil
}

// claims are the registered claims the parser validates, plus the whole
// payload, from which Verify reads the configured user and role claims once
// the signature has been checked. Names match exactly, as RFC 7519 wants.
// Subject stays empty: sub is read as the user claim, when it is one.
type claims struct {
	jwt.RegisteredClaims
	payload map[string]json.RawMessage
}

// UnmarshalJSON decodes the payload once; a registered claim of the wrong
// type fails it, which the parser reports as a malformed token.
func (c *claims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.payload); err != nil {
		return err
	}
	for _, f := range [...]struct {
		name string
		dst  any
	}{
		{"iss", &c.Issuer}, {"aud", &c.Audience}, {"exp", &c.ExpiresAt},
		{"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}, {"jti", &c.ID},
	} {
		if raw, ok := c.payload[f.name]; ok {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return fmt.Errorf("claim %s: %w", f.name, err)
			}
		}
	}
	return nil
}

// reasonCrit refuses a token with a crit header.
const reasonCrit = "token uses critical extensions (crit) this service does not support"

// unmappedRole is the role of a token whose role value Config.RoleValues
// does not list. It is not "" (a token without a role claim, which, when
// Config.AllowNoRole lets it in, may subscribe in either role) nor one of
// ours, so it grants neither.
const unmappedRole domain.UserType = "unmapped"

// Verify implements ports.TokenVerifier.
func (v *Verifier) Verify(_ context.Context, token string) (domain.Principal, error) {
	if token == "" {
		return domain.Principal{}, &domain.AuthError{Reason: "missing bearer token"}
	}
	var c claims
	parsed, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return domain.Principal{}, &domain.AuthError{Reason: reason(err)}
	}
	// RFC 7515 §4.1.11: a recipient must refuse a token whose crit header
	// names an extension it does not understand, and this service
	// understands none. golang-jwt does not look at crit.
	if _, ok := parsed.Header["crit"]; ok {
		return domain.Principal{}, &domain.AuthError{Reason: reasonCrit}
	}
	userID, err := v.userID(c.payload[v.cfg.UserClaim])
	if err != nil {
		return domain.Principal{}, err
	}
	role, err := v.role(c.payload)
	if err != nil {
		return domain.Principal{}, err
	}
	return domain.Principal{UserID: userID, UserType: role}, nil
}

// userID reads the user claim: a non-empty string as it is, or an integer
// (42, 42.0 and 4.2e1 all give "42", within the int64 range). Anything else
// (a fraction, a boolean, an object, …) is refused.
func (v *Verifier) userID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return "", &domain.AuthError{Reason: v.noUser}
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", &domain.AuthError{Reason: v.badUser}
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(n, 10), nil
		}
		// Exact, unlike float64: 42.0000000000000001 is not 42. The
		// signature has been checked, so the exponent comes from the issuer.
		if r, ok := new(big.Rat).SetString(string(raw)); ok && r.IsInt() && r.Num().IsInt64() {
			return r.Num().String(), nil
		}
	}
	return "", &domain.AuthError{Reason: v.badUser}
}

// role reads the first non-empty role claim and maps it through
// Config.RoleValues. No role claim is refused, or, with Config.AllowNoRole,
// gives "": the caller may subscribe in either role.
func (v *Verifier) role(payload map[string]json.RawMessage) (domain.UserType, error) {
	var value string
	for _, name := range v.roleClaims {
		raw, ok := payload[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", &domain.AuthError{Reason: "token's " + name + " claim is not a string"}
		}
		if value == "" {
			value = s
		}
	}
	switch {
	case value == "" && !v.cfg.AllowNoRole:
		return "", &domain.AuthError{Reason: v.noRole}
	case value == "":
		return "", nil
	case len(v.cfg.RoleValues) == 0:
		return domain.UserType(value), nil
	}
	if t, ok := v.cfg.RoleValues[value]; ok {
		return t, nil
	}
	return unmappedRole, nil
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

// Shape names the claims a token carries, as the verifier reads them
// (JWT_USER_CLAIM, JWT_ROLE_CLAIM, JWT_ROLE_VALUES), so development tokens
// work under the same settings as the backend's.
type Shape struct {
	UserClaim  string                     // "" means DefaultUserClaim
	RoleClaim  string                     // "" means user_type
	RoleValues map[string]domain.UserType // nil: our role names as they are
}

// roleValue is what the backend writes for role t: t itself, or the first
// (sorted) backend value mapped to it.
func (s Shape) roleValue(t domain.UserType) string {
	if s.RoleValues == nil {
		return string(t)
	}
	var values []string
	for v, ours := range s.RoleValues {
		if ours == t {
			values = append(values, v)
		}
	}
	slices.Sort(values)
	if len(values) == 0 {
		return string(t)
	}
	return values[0]
}

// Mint signs an HS256 development token for userID in role userType (empty:
// no role claim), valid for ttl, in shape's claims. Production tokens come
// from the main backend.
func Mint(secret []byte, shape Shape, userID string, userType domain.UserType, ttl time.Duration, now time.Time) (string, error) {
	c := devClaims{
		userClaim: cmp.Or(shape.UserClaim, DefaultUserClaim), roleClaim: cmp.Or(shape.RoleClaim, "user_type"),
		userID: userID, exp: jwt.NewNumericDate(now.Add(ttl)), iat: jwt.NewNumericDate(now),
	}
	if userType != "" {
		c.role = shape.roleValue(userType)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// devClaims is what Mint writes, in a fixed order (user, exp, iat, role):
// the same bytes for the same input, as committed fuzz seeds rely on.
type devClaims struct {
	jwt.RegisteredClaims // the jwt.Claims methods; never marshalled
	userClaim, roleClaim string
	userID, role         string
	exp, iat             *jwt.NumericDate
}

// MarshalJSON writes the claims in their fixed order.
func (c devClaims) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	field := func(sep, name string, v any) error {
		k, err := json.Marshal(name)
		if err != nil {
			return err
		}
		val, err := json.Marshal(v)
		b.WriteString(sep)
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		return err
	}
	err := errors.Join(field("{", c.userClaim, c.userID), field(",", "exp", c.exp), field(",", "iat", c.iat))
	if c.role != "" {
		err = errors.Join(err, field(",", c.roleClaim, c.role))
	}
	b.WriteByte('}')
	return b.Bytes(), err
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
	Shape  Shape
	TTL    time.Duration
	Now    func() time.Time
}

// Mint signs a token for userID in role userType.
func (m DevMinter) Mint(userID string, userType domain.UserType) (string, time.Duration, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	tok, err := Mint(m.Secret, m.Shape, userID, userType, m.TTL, now())
	return tok, m.TTL, err
}
