package domain

import (
	"crypto/ecdh"
	"encoding/base64"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// UserType says in which role a subscription receives notifications.
type UserType string

// The two roles of API.md.
const (
	UserTypeClient UserType = "client" // an EV driver
	UserTypeOwner  UserType = "owner"  // a station owner
)

// Valid reports whether t is one of the known roles.
func (t UserType) Valid() bool { return t == UserTypeClient || t == UserTypeOwner }

// Limits from API.md.
const (
	MaxEndpointLength = 2048
	maxUserAgent      = 512
	p256PointLength   = 65
	authSecretLength  = 16
)

// Field names used in validation errors: the JSON paths of API.md, so a client
// can point at the input that is wrong.
const (
	FieldEndpoint = "subscription.endpoint"
	FieldP256dh   = "subscription.keys.p256dh"
	FieldAuth     = "subscription.keys.auth"
	FieldUserType = "user_type"
	FieldLocale   = "locale"
)

// Subscription is one browser's push subscription, owned by one user.
type Subscription struct {
	ID            string
	UserID        string
	UserType      UserType
	Endpoint      string
	P256dh        []byte // 65-byte uncompressed P-256 point
	Auth          []byte // 16-byte auth secret
	Locale        string // "" means the service default
	UserAgent     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastSuccessAt *time.Time
	FailureCount  int
}

// SuccessRecordInterval is how stale last_success_at may get before another
// success is written: the cleanup counts in days, so an hour is precise enough.
const SuccessRecordInterval = time.Hour

// NeedsSuccessRecorded reports whether a delivery at now should be written
// back: after failures (to reset the count), the first success, or when the
// last recorded success is older than SuccessRecordInterval.
func (s Subscription) NeedsSuccessRecorded(now time.Time) bool {
	return s.FailureCount > 0 || s.LastSuccessAt == nil || now.Sub(*s.LastSuccessAt) >= SuccessRecordInterval
}

// SubscriptionInput is an unvalidated subscription as a client sent it.
type SubscriptionInput struct {
	UserID    string
	UserType  string
	Endpoint  string
	P256dh    string
	Auth      string
	Locale    string
	UserAgent string
}

// NewSubscription validates in against every rule of API.md and returns the
// subscription, or a *ValidationError naming each field that is wrong.
func NewSubscription(in SubscriptionInput, policy EndpointPolicy) (Subscription, error) {
	v := &ValidationError{}
	s := Subscription{
		UserID:    in.UserID,
		UserType:  UserType(in.UserType),
		Endpoint:  in.Endpoint,
		UserAgent: truncate(in.UserAgent, maxUserAgent),
	}
	if in.Endpoint == "" {
		v.add(FieldEndpoint, "is required")
	} else if err := policy.Check(in.Endpoint); err != nil {
		v.add(FieldEndpoint, err.Error())
	}
	if p, msg := decodeP256dh(in.P256dh); msg != "" {
		v.add(FieldP256dh, msg)
	} else {
		s.P256dh = p
	}
	if a, msg := decodeAuth(in.Auth); msg != "" {
		v.add(FieldAuth, msg)
	} else {
		s.Auth = a
	}
	switch {
	case in.UserType == "":
		v.add(FieldUserType, "is required")
	case !s.UserType.Valid():
		v.add(FieldUserType, `must be "client" or "owner"`)
	}
	if in.Locale != "" {
		loc, ok := NormalizeLocale(in.Locale)
		if !ok {
			v.add(FieldLocale, `must be a language tag such as "ru" or "en"`)
		}
		s.Locale = loc
	}
	if s.UserID == "" {
		// The auth middleware guarantees a user id; an empty one is a bug upstream.
		v.add("sub", "user id is missing")
	}
	if err := v.orNil(); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

func decodeP256dh(s string) ([]byte, string) {
	if s == "" {
		return nil, "is required"
	}
	b, ok := DecodeBase64(s)
	if !ok {
		return nil, "must be base64 or base64url"
	}
	if len(b) != p256PointLength {
		return nil, "must decode to a 65-byte uncompressed P-256 point"
	}
	if _, err := ecdh.P256().NewPublicKey(b); err != nil {
		return nil, "is not a point on the P-256 curve"
	}
	return b, ""
}

func decodeAuth(s string) ([]byte, string) {
	if s == "" {
		return nil, "is required"
	}
	b, ok := DecodeBase64(s)
	if !ok {
		return nil, "must be base64 or base64url"
	}
	if len(b) != authSecretLength {
		return nil, "must decode to exactly 16 bytes"
	}
	return b, ""
}

// DecodeBase64 accepts standard or URL-safe base64, padded or not, as browsers
// and client libraries send keys in any of these forms.
func DecodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

// EncodeBase64URL is the canonical text form of keys: base64url without padding.
func EncodeBase64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var localeRE = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8}){0,3}$`)

// NormalizeLocale lower-cases a language tag and turns "_" into "-"
// ("ru_RU" → "ru-ru"); ok is false when it does not look like a tag.
func NormalizeLocale(s string) (string, bool) {
	l := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	return l, len(l) <= 35 && localeRE.MatchString(l)
}

// EndpointPolicy decides which push endpoints the service will POST to. The
// endpoint is a URL a user hands us, so by default only known push services
// are allowed (SSRF protection).
type EndpointPolicy struct {
	// AllowedHosts holds patterns: "push.example.com" matches that host,
	// "*.example.com" any host below example.com, "*" any host.
	AllowedHosts []string
	// AllowLoopback lets localhost, 127.0.0.0/8 and [::1] through, over http
	// too: for tests and local development only.
	AllowLoopback bool
}

// DefaultPushHosts are the push services of Chrome/Edge (FCM), Firefox,
// Safari and legacy Edge (WNS).
var DefaultPushHosts = []string{
	"*.googleapis.com",
	"*.push.services.mozilla.com",
	"*.push.apple.com",
	"*.notify.windows.com",
}

// Check returns a *PolicyError when the endpoint may not be used.
func (p EndpointPolicy) Check(raw string) error {
	if len(raw) > MaxEndpointLength {
		return policyErr("must be at most 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return policyErr("must be an absolute URL")
	}
	if u.User != nil {
		return policyErr("must not contain credentials")
	}
	// A trailing dot names the same host ("localhost." is localhost).
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	addr, addrErr := netip.ParseAddr(host)
	// Resolvers also read "2130706433", "0" or "0x7f.1" as IPv4 addresses;
	// no real top-level domain is numeric, so treat such names as IPs.
	isIP := addrErr == nil || numericTLD(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || (addrErr == nil && addr.Unmap().IsLoopback()) {
		if !p.AllowLoopback {
			return policyErr("loopback addresses are not allowed")
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return policyErr("must use https")
		}
		return nil
	}
	if u.Scheme != "https" {
		return policyErr("must use https")
	}
	if isIP {
		return policyErr("IP address endpoints are not allowed")
	}
	if !validHostname(host) {
		return policyErr("host is not a valid DNS name")
	}
	if !p.hostAllowed(host) {
		return policyErr("host " + host + " is not an allowed push service")
	}
	return nil
}

func (p EndpointPolicy) hostAllowed(host string) bool {
	for _, pat := range p.AllowedHosts {
		if MatchHost(pat, host) {
			return true
		}
	}
	return false
}

// validHostname accepts LDH labels only (letters, digits, hyphens), none empty.
func validHostname(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func numericTLD(host string) bool {
	tld := host[strings.LastIndex(host, ".")+1:]
	if strings.HasPrefix(tld, "0x") {
		return true
	}
	for _, r := range tld {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true // also the empty label
}

// MatchHost reports whether host matches one allowlist pattern.
func MatchHost(pattern, host string) bool {
	pattern = strings.ToLower(pattern)
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:])
	default:
		return host == pattern
	}
}

// ValidHostPattern reports whether p can be used in EndpointPolicy.AllowedHosts.
func ValidHostPattern(p string) bool {
	if p == "*" {
		return true
	}
	p = strings.TrimPrefix(p, "*.")
	return p != "" && !strings.ContainsAny(p, "*/:@ ") && !strings.HasPrefix(p, ".") && !strings.HasSuffix(p, ".")
}

// PolicyError says why an endpoint was refused.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

func policyErr(reason string) error { return &PolicyError{Reason: reason} }

// EndpointHost is the endpoint's host, lower-cased ("" if the URL does not
// parse). Subscribers choose it, so it is no metrics label: ClassifyPushHost
// turns it into one.
func EndpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// EndpointLabel identifies an endpoint in logs without revealing it: the
// host plus a short hash. A full endpoint is a bearer capability for the device.
func EndpointLabel(endpoint string) string {
	host := "invalid"
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	return host + "#" + shortHash(endpoint)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary so the stored text stays valid UTF-8.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
