package domain_test

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/evpower/evpush/domain"
)

// Deterministic key material for the seeds: the user agent's public key and
// auth secret of RFC 8291, section 5.
const (
	rfc8291P256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfc8291Auth   = "BTBZMqHH6r4Tts7J_aSIgg"
)

// documentedFields are the field names NewSubscription may report (API.md,
// section 2); "sub" is left out because the fuzz input always has a user id.
var documentedFields = map[string]bool{
	domain.FieldEndpoint: true,
	domain.FieldP256dh:   true,
	domain.FieldAuth:     true,
	domain.FieldUserType: true,
	domain.FieldLocale:   true,
}

// stdPadded turns a base64url string into standard, padded base64.
func stdPadded(s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// FuzzNewSubscription checks that validation never panics and that its two
// answers are consistent: a subscription that satisfies every rule, or a
// *ValidationError naming exactly the documented fields that are wrong.
func FuzzNewSubscription(f *testing.F) {
	offCurve := "BA" + strings.Repeat("A", 85) // 0x04 then zeros: 65 bytes, not on the curve
	seeds := []struct{ endpoint, p256dh, auth, userType, locale string }{
		{fcmEndpoint, rfc8291P256dh, rfc8291Auth, "client", ""},
		{fcmEndpoint, rfc8291P256dh, rfc8291Auth, "owner", "ru"},
		{"https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB", stdPadded(rfc8291P256dh), stdPadded(rfc8291Auth), "client", "ru_RU"},
		{"https://web.push.apple.com/QGuQyavXutnMH", " " + rfc8291P256dh + "== ", rfc8291Auth + "==", "owner", " KY "},
		{"https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB", rfc8291P256dh, rfc8291Auth, "client", "en-us"},
		{"", "", "", "", ""},
		{"http://fcm.googleapis.com/fcm/send/x", offCurve, "AAAA", "admin", "english!"},
		{"https://127.0.0.1/push", rfc8291P256dh[:86], rfc8291Auth + "AA", "Client", "x"},
		{"https://localhost/push", "not base64!", "%%%%", "owner ", "zh-hant-tw-x"},
		{"https://[::1]:8443/push", rfc8291P256dh, rfc8291Auth, "client", strings.Repeat("a", 40)},
		{"https://user:pass@fcm.googleapis.com/fcm/send/x", rfc8291P256dh, rfc8291Auth, "client", ""},
		{"https://fcm.googleapis.com/" + strings.Repeat("a", domain.MaxEndpointLength), rfc8291P256dh, rfc8291Auth, "client", ""},
		{"https://2130706433/", rfc8291P256dh, rfc8291Auth, "client", ""},
		{"https://evil.example/?.googleapis.com", rfc8291P256dh, rfc8291Auth, "client", ""},
		{"mailto:push@fcm.googleapis.com", rfc8291P256dh, rfc8291Auth, "client", ""},
		{"https://fcm.googleapis.com./x", rfc8291P256dh, rfc8291Auth, "owner", "ру"},
		{"https://\u0444\u0446\u043c.googleapis.com/x", "\u00e9\u00e9", "\x00\xff", "\u043a\u043b\u0438\u0435\u043d\u0442", "\xff"},
	}
	for _, s := range seeds {
		f.Add(s.endpoint, s.p256dh, s.auth, s.userType, s.locale)
	}
	policies := []domain.EndpointPolicy{
		{AllowedHosts: domain.DefaultPushHosts},
		{AllowedHosts: domain.DefaultPushHosts, AllowLoopback: true},
	}
	f.Fuzz(func(t *testing.T, endpoint, p256dh, auth, userType, locale string) {
		in := domain.SubscriptionInput{
			UserID: "user-1", Endpoint: endpoint, P256dh: p256dh, Auth: auth,
			UserType: userType, Locale: locale, UserAgent: "fuzz",
		}
		for _, policy := range policies {
			sub, err := domain.NewSubscription(in, policy)
			if err == nil {
				checkSubscription(t, in, policy, sub)
				continue
			}
			checkValidationError(t, in, policy, err)
		}
	})
}

func checkSubscription(t *testing.T, in domain.SubscriptionInput, policy domain.EndpointPolicy, sub domain.Subscription) {
	t.Helper()
	if len(sub.P256dh) != 65 {
		t.Fatalf("accepted p256dh %q decodes to %d bytes, want 65", in.P256dh, len(sub.P256dh))
	}
	if _, err := ecdh.P256().NewPublicKey(sub.P256dh); err != nil {
		t.Fatalf("accepted p256dh %q is not a P-256 point: %v", in.P256dh, err)
	}
	if len(sub.Auth) != 16 {
		t.Fatalf("accepted auth %q decodes to %d bytes, want 16", in.Auth, len(sub.Auth))
	}
	if !sub.UserType.Valid() {
		t.Fatalf("accepted user type %q", sub.UserType)
	}
	if err := policy.Check(in.Endpoint); err != nil {
		t.Fatalf("accepted endpoint %q that the policy refuses: %v", in.Endpoint, err)
	}
	if want, _ := policy.Normalize(in.Endpoint); sub.Endpoint != want || sub.UserID != in.UserID {
		t.Fatalf("subscription does not keep the canonical endpoint %q and the user: %+v", want, sub)
	}
	if in.Locale == "" {
		if sub.Locale != "" {
			t.Fatalf("locale %q invented for empty input", sub.Locale)
		}
	} else if want, ok := domain.NormalizeLocale(in.Locale); !ok || sub.Locale != want {
		t.Fatalf("locale %q stored as %q (normalized %q, ok %v)", in.Locale, sub.Locale, want, ok)
	}
}

func checkValidationError(t *testing.T, in domain.SubscriptionInput, policy domain.EndpointPolicy, err error) {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T (%v), want *domain.ValidationError", err, err)
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("validation error %v does not unwrap to ErrInvalid", err)
	}
	if len(verr.Fields) == 0 {
		t.Fatalf("validation error without fields")
	}
	got := map[string]bool{}
	for _, fe := range verr.Fields {
		if !documentedFields[fe.Field] {
			t.Fatalf("undocumented field %q in %v", fe.Field, err)
		}
		if fe.Message == "" {
			t.Fatalf("field %q has no message", fe.Field)
		}
		if got[fe.Field] {
			t.Fatalf("field %q reported twice in %v", fe.Field, err)
		}
		got[fe.Field] = true
	}
	// Each field is named exactly when its own rule fails.
	want := map[string]bool{
		domain.FieldEndpoint: in.Endpoint == "" || policy.Check(in.Endpoint) != nil,
		domain.FieldP256dh:   !validKey(in.P256dh, 65, true),
		domain.FieldAuth:     !validKey(in.Auth, 16, false),
		domain.FieldUserType: !domain.UserType(in.UserType).Valid(),
		domain.FieldLocale:   in.Locale != "" && !localeOK(in.Locale),
	}
	for field, bad := range want {
		if got[field] != bad {
			t.Fatalf("field %q reported=%v, but its rule fails=%v (input %+v, error %v)", field, got[field], bad, in, err)
		}
	}
}

func validKey(s string, n int, point bool) bool {
	b, ok := domain.DecodeBase64(s)
	if s == "" || !ok || len(b) != n {
		return false
	}
	if point {
		_, err := ecdh.P256().NewPublicKey(b)
		return err == nil
	}
	return true
}

func localeOK(s string) bool {
	_, ok := domain.NormalizeLocale(s)
	return ok
}

// FuzzDecodeBase64 checks that decoding never panics, that whatever it
// decodes survives a round trip through the canonical encoding, and that all
// four encodings (standard or URL-safe, padded or not) of the input bytes
// decode back to them.
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{
		rfc8291P256dh, rfc8291Auth, stdPadded(rfc8291P256dh), stdPadded(rfc8291Auth),
		"", "=", "==", "====", "A", "AA", "AAA", "AB==", "AB=", "A===",
		"+/+/", "-_-_", "+_-/", " \tAAAA\r\n", "AA\nAA", "AA AA", "AA==AA", "=AAAA",
		"\xff\xfe", "\u00e9\u00e9\u00e9\u00e9", "AAA\x00",
	} {
		f.Add(s)
	}
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, ok := domain.DecodeBase64(s); ok {
			enc := domain.EncodeBase64URL(b)
			if strings.ContainsAny(enc, "+/=") {
				t.Fatalf("EncodeBase64URL(%x) = %q is not unpadded base64url", b, enc)
			}
			back, ok := domain.DecodeBase64(enc)
			if !ok || !bytes.Equal(back, b) {
				t.Fatalf("DecodeBase64(EncodeBase64URL(%x)) = %x, %v", b, back, ok)
			}
		}
		raw := []byte(s)
		for _, e := range encodings {
			text := e.EncodeToString(raw)
			back, ok := domain.DecodeBase64(text)
			if !ok || !bytes.Equal(back, raw) {
				t.Fatalf("DecodeBase64(%q) = %x, %v; want %x", text, back, ok, raw)
			}
		}
	})
}

// FuzzEndpointPolicy checks that Check never panics and that what it accepts
// is a URL the sender may POST to: https to an allowed host, or http only to
// loopback when AllowLoopback is set; never credentials, never a literal IP
// other than loopback.
func FuzzEndpointPolicy(f *testing.F) {
	for _, s := range []string{
		fcmEndpoint,
		"https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
		"https://web.push.apple.com/QGuQyavXutnMH",
		"https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
		"HTTPS://FCM.GOOGLEAPIS.COM/fcm/send/x",
		"https://fcm.googleapis.com.:443/x",
		"https://googleapis.com/x",
		"https://.googleapis.com/x",
		"https://evilgoogleapis.com/x",
		"https://fcm.googleapis.com@evil.example/x",
		"https://evil.example#.googleapis.com",
		"https://evil.example\\.googleapis.com",
		"http://fcm.googleapis.com/x",
		"http://localhost:8080/push",
		"http://localhost./push",
		"https://a.b.localhost/push",
		"http://127.0.0.1:9/push",
		"http://127.1/push",
		"http://[::1]:8080/push",
		"http://[::ffff:127.0.0.1]/push",
		"http://[::1%25lo]/push",
		"https://2130706433/",
		"https://0x7f.1/",
		"https://0/",
		"https://[fe80::1%25eth0]/",
		"https://10.0.0.1/",
		"https://169.254.169.254/latest/meta-data",
		"ftp://localhost/",
		"javascript:alert(1)",
		"//fcm.googleapis.com/x",
		"/relative",
		"https:fcm.googleapis.com",
		"https://",
		"https://:443",
		"https://fcm.googleapis.com:99999/x",
		"HTTPS://FCM.GOOGLEAPIS.COM.:443/fcm/send/AbC",
		"https://fcm.googleapis.com:8443/x",
		"http://LOCALHOST.:0080/Push?A=B#C",
		"https://[::1%25eth0]/x",
		"https://x%ff.googleapis.com/",
		"https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
		"https://user@fcm.googleapis.com/",
		"https://fcm.googleapis.com/" + strings.Repeat("a", domain.MaxEndpointLength),
		"",
		"\x00",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLoopback bool) {
		for _, hosts := range [][]string{domain.DefaultPushHosts, {"*"}} {
			p := domain.EndpointPolicy{AllowedHosts: hosts, AllowLoopback: allowLoopback}
			err := p.Check(raw)
			if err != nil {
				var perr *domain.PolicyError
				if !errors.As(err, &perr) || perr.Reason == "" {
					t.Fatalf("Check(%q) = %T %v, want a *PolicyError with a reason", raw, err, err)
				}
				continue
			}
			checkAccepted(t, p, raw)
			checkCanonical(t, p, raw)
		}
	})
}

func checkAccepted(t *testing.T, p domain.EndpointPolicy, raw string) {
	t.Helper()
	if len(raw) > domain.MaxEndpointLength {
		t.Fatalf("accepted %d-byte endpoint", len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		t.Fatalf("accepted %q, which is not an absolute URL with a host (%v)", raw, err)
	}
	if u.User != nil {
		t.Fatalf("accepted %q with credentials", raw)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	addr, addrErr := netip.ParseAddr(host)
	loopback := host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		(addrErr == nil && addr.Unmap().IsLoopback())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback && p.AllowLoopback:
	default:
		t.Fatalf("accepted %q: scheme %q on host %q (loopback %v, AllowLoopback %v)",
			raw, u.Scheme, host, loopback, p.AllowLoopback)
	}
	if loopback {
		if !p.AllowLoopback {
			t.Fatalf("accepted loopback %q without AllowLoopback", raw)
		}
		return
	}
	if addrErr == nil {
		t.Fatalf("accepted literal IP %q", raw)
	}
	if port := u.Port(); port != "" && strings.TrimLeft(port, "0") != "443" {
		t.Fatalf("accepted %q on port %q", raw, port)
	}
	for _, pat := range p.AllowedHosts {
		if domain.MatchHost(pat, host) {
			return
		}
	}
	t.Fatalf("accepted %q: host %q matches no allowed pattern %v", raw, host, p.AllowedHosts)
}

// checkCanonical: the stored form of an accepted endpoint passes the policy
// as itself, is what unsubscribe computes, and keeps everything after the
// host byte for byte (the device's token).
func checkCanonical(t *testing.T, p domain.EndpointPolicy, raw string) {
	t.Helper()
	canon, err := p.Normalize(raw)
	if err != nil {
		t.Fatalf("Check accepted %q but Normalize refused it: %v", raw, err)
	}
	if again, err := p.Normalize(canon); err != nil || again != canon {
		t.Fatalf("Normalize(%q) = %q, which normalizes to %q (%v)", raw, canon, again, err)
	}
	if c := domain.CanonicalEndpoint(raw); c != canon {
		t.Fatalf("CanonicalEndpoint(%q) = %q, Normalize gave %q", raw, c, canon)
	}
	u, _ := url.Parse(raw)
	cu, err := url.Parse(canon)
	if err != nil || cu.Scheme != u.Scheme || cu.EscapedPath() != u.EscapedPath() || cu.RawQuery != u.RawQuery ||
		cu.Hostname() != strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") {
		t.Fatalf("Normalize(%q) = %q changes more than scheme case, host case, trailing dot and port", raw, canon)
	}
}
