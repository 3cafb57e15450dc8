package domain

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
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

// errUserType is the one wording of the role rule, wherever a role is read
// (a subscription, a job's args, the demo's sign-in, `evpush token`).
var errUserType = errors.New(`must be "client" or "owner"`)

// ParseUserType reads a role as API.md spells it; the error states the
// rule, for the caller to put under its own field or flag.
func ParseUserType(s string) (UserType, error) {
	if t := UserType(s); t.Valid() {
		return t, nil
	}
	return "", errUserType
}

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
	// VAPIDKeyID is the key the browser subscribed with: every push to it
	// must be signed with that key, or its push service refuses it.
	VAPIDKeyID int

	// applicationServerKey is the key the subscribe named, canonical; ""
	// when it named none. Only the key's ID is stored.
	applicationServerKey string
}

// ApplicationServerKey is the VAPID public key the subscribe request named
// (base64url without padding), or "" when it named none: the app binds the
// subscription to that key, or to the current one.
func (s Subscription) ApplicationServerKey() string { return s.applicationServerKey }

// ErrEndpointTaken is what a store answers when a subscribe names an
// endpoint that another user (or the caller in another role) holds with other
// keys. Such an endpoint does not move: only the browser profile that holds
// the keys can hand its subscription to someone else, by subscribing with the
// same keys. Otherwise anyone who learnt an endpoint could silently take the
// device's notifications away from its owner.
var ErrEndpointTaken = errors.New("endpoint is held by another user with other keys")

// DecoySubscriptionID is the subscription_id answered for a refused takeover
// (ErrEndpointTaken): the caller is told the same as for a new subscription,
// so the answer neither reveals that the endpoint exists nor hands out its
// owner's id. It is never stored. It is an HMAC of what the caller sent
// under the service's key: the same for a retry, as a stored row's id would
// be, and not computable by the caller (who could otherwise compare).
func DecoySubscriptionID(key []byte, endpoint, userID string, userType UserType) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("evpush decoy subscription id\x00" + endpoint + "\x00" + userID + "\x00" + string(userType)))
	b := mac.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x40 // the version and variant bits of gen_random_uuid()'s ids
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
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
	// ApplicationServerKey is the VAPID public key the browser subscribed
	// with (subscription.options.applicationServerKey); optional.
	ApplicationServerKey string
}

// NewSubscriptionFor is the subscription caller asks for: in, validated
// (see NewSubscription), as the caller's own whatever user id it names, and
// in a role the caller's token allows (ErrForbidden otherwise).
func NewSubscriptionFor(caller Principal, in SubscriptionInput, policy EndpointPolicy) (Subscription, error) {
	in.UserID = caller.UserID
	sub, err := NewSubscription(in, policy)
	if err != nil {
		return Subscription{}, err
	}
	if !caller.MayActAs(sub.UserType) {
		return Subscription{}, Errorf(ErrForbidden, "this token may not subscribe as %q", sub.UserType)
	}
	return sub, nil
}

// NewSubscription validates in against every rule of API.md and returns the
// subscription, or a *ValidationError naming each field that is wrong.
func NewSubscription(in SubscriptionInput, policy EndpointPolicy) (Subscription, error) {
	v := &ValidationError{}
	s := Subscription{
		UserID:    in.UserID,
		UserType:  UserType(in.UserType),
		UserAgent: sanitizeUserAgent(in.UserAgent),
	}
	if in.Endpoint == "" {
		v.Add(FieldEndpoint, "is required")
	} else if ep, err := policy.Normalize(in.Endpoint); err != nil {
		v.Add(FieldEndpoint, err.Error())
	} else {
		s.Endpoint = ep
	}
	if p, msg := decodeP256dh(in.P256dh); msg != "" {
		v.Add(FieldP256dh, msg)
	} else {
		s.P256dh = p
	}
	if a, msg := decodeAuth(in.Auth); msg != "" {
		v.Add(FieldAuth, msg)
	} else {
		s.Auth = a
	}
	if in.UserType == "" {
		v.Add(FieldUserType, "is required")
	} else if _, err := ParseUserType(in.UserType); err != nil {
		v.Add(FieldUserType, err.Error())
	}
	if in.Locale != "" {
		loc, ok := NormalizeLocale(in.Locale)
		if !ok {
			v.Add(FieldLocale, `must be a language tag such as "ru" or "en"`)
		}
		s.Locale = loc
	}
	if in.ApplicationServerKey != "" {
		k, msg := CanonicalPublicKey(in.ApplicationServerKey)
		if msg != "" {
			v.Add(FieldApplicationServerKey, msg)
		}
		s.applicationServerKey = k
	}
	if s.UserID == "" {
		// The auth middleware guarantees a user id; an empty one is a bug upstream.
		v.Add("sub", "user id is missing")
	}
	if err := v.Err(); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

func decodeP256dh(s string) ([]byte, string) {
	if s == "" {
		return nil, "is required"
	}
	return decodeP256Point(s)
}

// decodeP256Point reads a 65-byte uncompressed P-256 point in any base64:
// a browser's p256dh, or a VAPID public key.
func decodeP256Point(s string) ([]byte, string) {
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

// toBase64URL maps standard base64's alphabet to URL-safe base64's. Built
// once: a Replacer is safe for concurrent use, and building one per call
// cost as much as the decoding (two keys per subscribe, two per send).
var toBase64URL = strings.NewReplacer("+", "-", "/", "_")

// DecodeBase64 accepts standard or URL-safe base64, padded or not, as browsers
// and client libraries send keys in any of these forms.
func DecodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = toBase64URL.Replace(s)
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
	// too and on any port: for tests and local development only.
	AllowLoopback bool
}

// DefaultPushHosts are the hosts of the push services browsers use, each as
// narrow as its vendor allows, so a subscribe cannot aim our POSTs at any
// other host of a big cloud domain (storage.googleapis.com and the like):
//   - fcm.googleapis.com: Chrome, Opera and most other Chromium browsers
//     (FCM). Chromium's components/push_messaging/push_messaging_constants.cc
//     hands out https://fcm.googleapis.com/fcm/send/… and …/wp/….
//   - android.googleapis.com: the GCM endpoint (…/gcm/send/…) that Chrome
//     gave out before VAPID and FCM; rows of that time may still be stored.
//   - updates.push.services.mozilla.com: Firefox (autopush; its endpoints are
//     https://updates.push.services.mozilla.com/wpush/v1|v2/…).
//   - *.push.apple.com: Safari (web.push.apple.com today). Apple's "Sending
//     web push notifications in web apps and browsers" says to allow URLs
//     from *.push.apple.com if you tightly manage push endpoints.
//   - *.notify.windows.com: Edge (WNS), whose channel URIs live on regional
//     hosts such as wns2-par02p.notify.windows.com (Microsoft's WNS overview:
//     the channel URI is the one to POST to).
//
// PUSH_ALLOWED_HOSTS replaces the list (e.g. for a self-hosted push service).
var DefaultPushHosts = []string{
	"fcm.googleapis.com",
	"android.googleapis.com",
	"updates.push.services.mozilla.com",
	"*.push.apple.com",
	"*.notify.windows.com",
}

// Check returns a *PolicyError when the endpoint may not be used.
func (p EndpointPolicy) Check(raw string) error {
	_, err := p.Normalize(raw)
	return err
}

// Normalize checks raw like Check and returns the endpoint in its canonical
// form, the one stored: scheme and host lower-cased, no trailing dot on the
// host, no default port (":443" for https). The rest (path, query) is kept
// byte for byte: it is the device's token, and case matters there. So
// "HTTPS://FCM.GOOGLEAPIS.COM.:443/x" and "https://fcm.googleapis.com/x" are
// one endpoint, and one subscription.
func (p EndpointPolicy) Normalize(raw string) (string, error) {
	if len(raw) > MaxEndpointLength {
		return "", policyErr("must be at most 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", policyErr("must be an absolute URL")
	}
	if u.User != nil {
		return "", policyErr("must not contain credentials")
	}
	// Spellings a push service reads as the same device must not make
	// another row: a fragment (never sent), a bare "?", and percent-escapes
	// of characters that need none. No browser sends them.
	if strings.Contains(raw, "#") || u.ForceQuery {
		return "", policyErr(`must not contain "#" or an empty query`)
	}
	if escapedUnreserved(u.EscapedPath() + "?" + u.RawQuery) {
		return "", policyErr("must not percent-encode letters, digits or -._~")
	}
	// A trailing dot names the same host ("localhost." is localhost).
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	addr, addrErr := netip.ParseAddr(host)
	// Resolvers also read "2130706433", "0" or "0x7f.1" as IPv4 addresses;
	// no real top-level domain is numeric, so treat such names as IPs.
	isIP := addrErr == nil || numericTLD(host)
	if addrErr == nil && addr.Zone() != "" {
		// A zone names an interface of this machine: never a push service.
		return "", policyErr("IP address endpoints are not allowed")
	}
	port, portErr := strconv.ParseUint(u.Port(), 10, 16)
	if u.Port() != "" && (portErr != nil || port == 0) {
		return "", policyErr("port is not a valid port number")
	}
	if strings.HasSuffix(host, ".localhost") {
		// Only the exact name is sure to be this machine: resolvers may
		// send *.localhost to DNS, i.e. anywhere.
		return "", policyErr("loopback addresses are not allowed")
	}
	if host == "localhost" || (addrErr == nil && addr.Unmap().IsLoopback()) {
		if !p.AllowLoopback {
			return "", policyErr("loopback addresses are not allowed")
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return "", policyErr("must use https")
		}
		if addrErr != nil && !validHostname(host) {
			return "", policyErr("host is not a valid DNS name")
		}
		// Any port: the test push service listens on 127.0.0.1:random.
		return canonicalEndpoint(raw, u, host), nil
	}
	if u.Scheme != "https" {
		return "", policyErr("must use https")
	}
	if isIP {
		return "", policyErr("IP address endpoints are not allowed")
	}
	if !validHostname(host) {
		return "", policyErr("host is not a valid DNS name")
	}
	if !p.hostAllowed(host) {
		return "", policyErr("host " + host + " is not an allowed push service")
	}
	// Every push service listens on 443; another port is no push service
	// and would let a subscribe probe other services on an allowed host.
	if u.Port() != "" && port != 443 {
		return "", policyErr("port must be 443 (or none)")
	}
	return canonicalEndpoint(raw, u, host), nil
}

// escapedUnreserved reports a %XX escape of an RFC 3986 unreserved
// character, which means the same as the character itself.
func escapedUnreserved(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			continue
		}
		c := byte(v)
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			return true
		}
	}
	return false
}

// CanonicalEndpoint is raw in the form Normalize stores, without checking the
// policy: for looking up an endpoint a client sends back (unsubscribe). A raw
// string that is no absolute URL is returned unchanged; it matches nothing.
func CanonicalEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil {
		return raw
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if addr, err := netip.ParseAddr(host); err == nil && addr.Zone() != "" {
		return raw // refused by Normalize, so never stored
	}
	return canonicalEndpoint(raw, u, host)
}

// canonicalEndpoint rebuilds raw from its parsed scheme, the lower-cased
// host without its trailing dot, and the port unless it is the scheme's
// default; everything after the authority is copied from raw as it came,
// never re-encoded. u is raw parsed, with a host and no user info.
func canonicalEndpoint(raw string, u *url.URL, host string) string {
	// url.Parse read raw as scheme ":" "//" authority tail, where the
	// authority runs to the first "/", "?" or "#".
	rest := raw[len(u.Scheme)+len("://"):]
	tail := ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		tail = rest[i:]
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if port := u.Port(); port != "" {
		// Numerically, so ":0443" is ":443" too.
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			port = strconv.FormatUint(n, 10)
		}
		if !(port == "443" && u.Scheme == "https" || port == "80" && u.Scheme == "http") {
			host += ":" + port
		}
	}
	return u.Scheme + "://" + host + tail
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

// sanitizeUserAgent makes the User-Agent header storable text: it is
// informational only, so bytes that are not UTF-8 (HTTP allows any octet in
// a header) become U+FFFD and NULs, which PostgreSQL text cannot hold, are
// dropped, rather than the subscribe failing. Cut to maxUserAgent bytes.
func sanitizeUserAgent(ua string) string {
	ua = strings.ReplaceAll(strings.ToValidUTF8(ua, "\uFFFD"), "\x00", "")
	return truncate(ua, maxUserAgent)
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
