package domain_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

const fcmEndpoint = "https://fcm.googleapis.com/fcm/send/abc:def-123"

// testKeys is a browser's subscription key material: a real P-256 point and a
// 16-byte auth secret.
type testKeys struct {
	p256dh []byte
	auth   []byte
}

func newTestKeys(tb testing.TB) testKeys {
	tb.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(tb, err)
	auth := make([]byte, 16)
	_, err = rand.Read(auth)
	require.NoError(tb, err)
	return testKeys{p256dh: k.PublicKey().Bytes(), auth: auth}
}

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return b
}

// offCurvePoint is 65 bytes in the uncompressed form (0x04 prefix) whose
// coordinates do not satisfy the curve equation.
func offCurvePoint(tb testing.TB) []byte {
	tb.Helper()
	for {
		b := randomBytes(tb, 65)
		b[0] = 0x04
		if _, err := ecdh.P256().NewPublicKey(b); err != nil {
			return b
		}
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func validInput(tb testing.TB) domain.SubscriptionInput {
	tb.Helper()
	k := newTestKeys(tb)
	return domain.SubscriptionInput{
		UserID:    "user-1",
		UserType:  "client",
		Endpoint:  fcmEndpoint,
		P256dh:    b64url(k.p256dh),
		Auth:      b64url(k.auth),
		UserAgent: "Mozilla/5.0",
	}
}

func defaultPolicy() domain.EndpointPolicy {
	return domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}
}

// requireFieldErrors checks that err is a *ValidationError naming exactly the
// given fields, in any order, and that it unwraps to ErrInvalid.
func requireFieldErrors(tb testing.TB, err error, fields ...string) *domain.ValidationError {
	tb.Helper()
	require.Error(tb, err)
	require.ErrorIs(tb, err, domain.ErrInvalid)
	var verr *domain.ValidationError
	require.ErrorAs(tb, err, &verr)
	got := make([]string, 0, len(verr.Fields))
	for _, f := range verr.Fields {
		got = append(got, f.Field)
		require.NotEmpty(tb, f.Message, "field %s has no message", f.Field)
	}
	require.ElementsMatch(tb, fields, got, "error: %v", err)
	return verr
}

func TestNewSubscription_KeyEncodings(t *testing.T) {
	t.Parallel()

	k := newTestKeys(t)
	tests := []struct {
		name string
		enc  *base64.Encoding
	}{
		{name: "std padded", enc: base64.StdEncoding},
		{name: "std raw", enc: base64.RawStdEncoding},
		{name: "url padded", enc: base64.URLEncoding},
		{name: "url raw", enc: base64.RawURLEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in := domain.SubscriptionInput{
				UserID:   "user-1",
				UserType: "owner",
				Endpoint: fcmEndpoint,
				P256dh:   tt.enc.EncodeToString(k.p256dh),
				Auth:     tt.enc.EncodeToString(k.auth),
			}
			sub, err := domain.NewSubscription(in, defaultPolicy())
			require.NoError(t, err)
			require.Equal(t, k.p256dh, sub.P256dh)
			require.Equal(t, k.auth, sub.Auth)
			require.Equal(t, "user-1", sub.UserID)
			require.Equal(t, domain.UserTypeOwner, sub.UserType)
			require.Equal(t, fcmEndpoint, sub.Endpoint)
			require.Empty(t, sub.Locale)
			require.Empty(t, sub.ID)
		})
	}
}

func TestNewSubscription_EncodingsReallyDiffer(t *testing.T) {
	t.Parallel()

	// Find keys whose std and url encodings differ, so the test above cannot
	// pass by accident for the "+/" vs "-_" alphabets.
	for range 1000 {
		k := newTestKeys(t)
		std := base64.StdEncoding.EncodeToString(k.p256dh)
		if !strings.ContainsAny(std, "+/") {
			continue
		}
		in := validInput(t)
		in.P256dh = std
		sub, err := domain.NewSubscription(in, defaultPolicy())
		require.NoError(t, err)
		require.Equal(t, k.p256dh, sub.P256dh)

		in.P256dh = base64.URLEncoding.EncodeToString(k.p256dh)
		sub, err = domain.NewSubscription(in, defaultPolicy())
		require.NoError(t, err)
		require.Equal(t, k.p256dh, sub.P256dh)
		return
	}
	t.Fatal("no key with + or / in its standard encoding found")
}

func TestNewSubscription_Invalid(t *testing.T) {
	t.Parallel()

	k := newTestKeys(t)
	tests := []struct {
		name   string
		modify func(in *domain.SubscriptionInput)
		fields []string
	}{
		{
			name:   "p256dh wrong length",
			modify: func(in *domain.SubscriptionInput) { in.P256dh = b64url(k.p256dh[:64]) },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "p256dh compressed point",
			modify: func(in *domain.SubscriptionInput) { in.P256dh = b64url(append([]byte{0x02}, k.p256dh[1:33]...)) },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "p256dh not on curve",
			modify: func(in *domain.SubscriptionInput) { in.P256dh = b64url(offCurvePoint(t)) },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "p256dh not base64",
			modify: func(in *domain.SubscriptionInput) { in.P256dh = "not base64!!" },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "p256dh empty",
			modify: func(in *domain.SubscriptionInput) { in.P256dh = "" },
			fields: []string{domain.FieldP256dh},
		},
		{
			name:   "auth 15 bytes",
			modify: func(in *domain.SubscriptionInput) { in.Auth = b64url(randomBytes(t, 15)) },
			fields: []string{domain.FieldAuth},
		},
		{
			name:   "auth 17 bytes",
			modify: func(in *domain.SubscriptionInput) { in.Auth = b64url(randomBytes(t, 17)) },
			fields: []string{domain.FieldAuth},
		},
		{
			name:   "auth empty",
			modify: func(in *domain.SubscriptionInput) { in.Auth = "" },
			fields: []string{domain.FieldAuth},
		},
		{
			name:   "auth not base64",
			modify: func(in *domain.SubscriptionInput) { in.Auth = "%%%%" },
			fields: []string{domain.FieldAuth},
		},
		{
			name:   "user_type missing",
			modify: func(in *domain.SubscriptionInput) { in.UserType = "" },
			fields: []string{domain.FieldUserType},
		},
		{
			name:   "user_type admin",
			modify: func(in *domain.SubscriptionInput) { in.UserType = "admin" },
			fields: []string{domain.FieldUserType},
		},
		{
			name:   "user_type wrong case",
			modify: func(in *domain.SubscriptionInput) { in.UserType = "Client" },
			fields: []string{domain.FieldUserType},
		},
		{
			name:   "locale digits",
			modify: func(in *domain.SubscriptionInput) { in.Locale = "123" },
			fields: []string{domain.FieldLocale},
		},
		{
			name:   "locale too long",
			modify: func(in *domain.SubscriptionInput) { in.Locale = "en-" + strings.Repeat("a", 40) },
			fields: []string{domain.FieldLocale},
		},
		{
			name:   "locale too many subtags",
			modify: func(in *domain.SubscriptionInput) { in.Locale = "en-aa-bb-cc-dd" },
			fields: []string{domain.FieldLocale},
		},
		{
			name:   "endpoint empty",
			modify: func(in *domain.SubscriptionInput) { in.Endpoint = "" },
			fields: []string{domain.FieldEndpoint},
		},
		{
			name:   "endpoint http",
			modify: func(in *domain.SubscriptionInput) { in.Endpoint = "http://fcm.googleapis.com/fcm/send/x" },
			fields: []string{domain.FieldEndpoint},
		},
		{
			name:   "endpoint unknown host",
			modify: func(in *domain.SubscriptionInput) { in.Endpoint = "https://evil.example.com/push" },
			fields: []string{domain.FieldEndpoint},
		},
		{
			name:   "application_server_key not base64",
			modify: func(in *domain.SubscriptionInput) { in.ApplicationServerKey = "not a key!" },
			fields: []string{domain.FieldApplicationServerKey},
		},
		{
			name:   "application_server_key is the auth secret",
			modify: func(in *domain.SubscriptionInput) { in.ApplicationServerKey = in.Auth },
			fields: []string{domain.FieldApplicationServerKey},
		},
		{
			name:   "user id missing",
			modify: func(in *domain.SubscriptionInput) { in.UserID = "" },
			fields: []string{"sub"},
		},
		{
			name: "several at once",
			modify: func(in *domain.SubscriptionInput) {
				in.Endpoint = "ftp://x"
				in.P256dh = "!!"
				in.Auth = b64url(randomBytes(t, 15))
				in.UserType = "admin"
				in.Locale = "123"
			},
			fields: []string{
				domain.FieldEndpoint, domain.FieldP256dh, domain.FieldAuth,
				domain.FieldUserType, domain.FieldLocale,
			},
		},
		{
			name:   "everything empty",
			modify: func(in *domain.SubscriptionInput) { *in = domain.SubscriptionInput{} },
			fields: []string{
				domain.FieldEndpoint, domain.FieldP256dh, domain.FieldAuth,
				domain.FieldUserType, "sub",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in := validInput(t)
			tt.modify(&in)
			sub, err := domain.NewSubscription(in, defaultPolicy())
			requireFieldErrors(t, err, tt.fields...)
			require.Zero(t, sub)
			for _, f := range tt.fields {
				require.Contains(t, err.Error(), f+": ")
			}
		})
	}
}

func TestNewSubscription_ApplicationServerKey(t *testing.T) {
	t.Parallel()

	in := validInput(t)
	sub, err := domain.NewSubscription(in, defaultPolicy())
	require.NoError(t, err)
	require.Empty(t, sub.ApplicationServerKey(), "absent: none named")

	k, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	raw, ok := domain.DecodeBase64(k.PublicKey)
	require.True(t, ok)
	in.ApplicationServerKey = base64.StdEncoding.EncodeToString(raw)
	sub, err = domain.NewSubscription(in, defaultPolicy())
	require.NoError(t, err)
	require.Equal(t, k.PublicKey, sub.ApplicationServerKey(), "canonical: base64url without padding")
	require.Zero(t, sub.VAPIDKeyID, "the app binds it")
}

func TestNewSubscription_UserTypeAndLocale(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		userType   string
		locale     string
		wantType   domain.UserType
		wantLocale string
	}{
		{name: "client no locale", userType: "client", wantType: domain.UserTypeClient},
		{name: "owner ru", userType: "owner", locale: "ru", wantType: domain.UserTypeOwner, wantLocale: "ru"},
		{name: "en-US lowered", userType: "client", locale: "en-US", wantType: domain.UserTypeClient, wantLocale: "en-us"},
		{name: "ru_RU underscore", userType: "client", locale: "ru_RU", wantType: domain.UserTypeClient, wantLocale: "ru-ru"},
		{name: "ky", userType: "client", locale: "ky", wantType: domain.UserTypeClient, wantLocale: "ky"},
		{name: "spaces trimmed", userType: "client", locale: " EN ", wantType: domain.UserTypeClient, wantLocale: "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in := validInput(t)
			in.UserType = tt.userType
			in.Locale = tt.locale
			sub, err := domain.NewSubscription(in, defaultPolicy())
			require.NoError(t, err)
			require.Equal(t, tt.wantType, sub.UserType)
			require.Equal(t, tt.wantLocale, sub.Locale)
		})
	}
}

func TestNewSubscription_EndpointPolicyMessage(t *testing.T) {
	t.Parallel()

	in := validInput(t)
	in.Endpoint = "https://evil.example.com/push"
	_, err := domain.NewSubscription(in, defaultPolicy())
	verr := requireFieldErrors(t, err, domain.FieldEndpoint)
	require.Contains(t, verr.Fields[0].Message, "evil.example.com")
}

func TestNewSubscription_UserAgentTruncated(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		ua      string
		wantLen int
	}{
		{name: "short kept", ua: "Mozilla/5.0", wantLen: len("Mozilla/5.0")},
		{name: "ascii cut at 512", ua: strings.Repeat("a", 600), wantLen: 512},
		// 'a' then two-byte runes: byte 512 is the middle of a rune, so the
		// cut must step back to 511 to keep the text valid UTF-8.
		{name: "multibyte cut at rune boundary", ua: "a" + strings.Repeat("я", 300), wantLen: 511},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in := validInput(t)
			in.UserAgent = tt.ua
			sub, err := domain.NewSubscription(in, defaultPolicy())
			require.NoError(t, err)
			require.Len(t, sub.UserAgent, tt.wantLen)
			require.True(t, utf8.ValidString(sub.UserAgent))
			require.True(t, strings.HasPrefix(tt.ua, sub.UserAgent))
		})
	}
}

func TestNewSubscription_UserAgentSanitized(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		ua   string
		want string
	}{
		{name: "valid kept", ua: "Mozilla/5.0 (X11; Linux) Яндекс", want: "Mozilla/5.0 (X11; Linux) Яндекс"},
		{name: "latin-1 byte replaced", ua: "Mozilla/5.0 (caf\xe9)", want: "Mozilla/5.0 (caf\uFFFD)"},
		{name: "run of bad bytes is one replacement", ua: "a\xff\xfe\xfdb", want: "a\uFFFDb"},
		{name: "cut rune replaced", ua: "a\xd1", want: "a\uFFFD"},
		{name: "NUL dropped", ua: "a\x00b", want: "ab"},
		// The replacement is 3 bytes where the bad byte was 1: the cut at
		// 512 comes after replacing and still lands on a rune boundary.
		{name: "replaced then cut", ua: strings.Repeat("\xff", 1) + strings.Repeat("a", 510) + "\xff\xff", want: "\uFFFD" + strings.Repeat("a", 509)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in := validInput(t)
			in.UserAgent = tt.ua
			sub, err := domain.NewSubscription(in, defaultPolicy())
			require.NoError(t, err)
			require.Equal(t, tt.want, sub.UserAgent)
			require.True(t, utf8.ValidString(sub.UserAgent))
			require.LessOrEqual(t, len(sub.UserAgent), 512)
		})
	}
}

func TestNewSubscription_EndpointStoredCanonical(t *testing.T) {
	t.Parallel()

	in := validInput(t)
	in.Endpoint = "HTTPS://FCM.GoogleAPIs.COM.:443/fcm/send/AbC:dEf"
	sub, err := domain.NewSubscription(in, defaultPolicy())
	require.NoError(t, err)
	require.Equal(t, "https://fcm.googleapis.com/fcm/send/AbC:dEf", sub.Endpoint)
}

func TestNormalizeLocale(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{in: "ru", want: "ru", wantOK: true},
		{in: "en-US", want: "en-us", wantOK: true},
		{in: "ru_RU", want: "ru-ru", wantOK: true},
		{in: "zh-Hant-TW", want: "zh-hant-tw", wantOK: true},
		{in: "123", want: "123", wantOK: false},
		{in: "r", want: "r", wantOK: false},
		{in: "russian", want: "russian", wantOK: false},
		{in: "en-" + strings.Repeat("x", 33), wantOK: false},
		{in: "", want: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()

			got, ok := domain.NormalizeLocale(tt.in)
			require.Equal(t, tt.wantOK, ok)
			if tt.want != "" {
				require.Equal(t, tt.want, got)
			}
		})
	}
}

func TestDecodeBase64(t *testing.T) {
	t.Parallel()

	raw := []byte{0xfb, 0xff, 0xbf, 0x00, 0x01}
	tests := []struct {
		name   string
		in     string
		want   []byte
		wantOK bool
	}{
		{name: "std padded", in: base64.StdEncoding.EncodeToString(raw), want: raw, wantOK: true},
		{name: "std raw", in: base64.RawStdEncoding.EncodeToString(raw), want: raw, wantOK: true},
		{name: "url padded", in: base64.URLEncoding.EncodeToString(raw), want: raw, wantOK: true},
		{name: "url raw", in: base64.RawURLEncoding.EncodeToString(raw), want: raw, wantOK: true},
		{name: "surrounding space", in: " " + base64.RawURLEncoding.EncodeToString(raw) + "\n", want: raw, wantOK: true},
		{name: "garbage", in: "not*base64", wantOK: false},
		{name: "padding inside", in: "ab=c", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, ok := domain.DecodeBase64(tt.in)
			require.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				require.Equal(t, tt.want, got)
			}
		})
	}
}

func TestEncodeBase64URL(t *testing.T) {
	t.Parallel()

	raw := []byte{0xfb, 0xff, 0xbf}
	got := domain.EncodeBase64URL(raw)
	require.Equal(t, "-_-_", got)
	back, ok := domain.DecodeBase64(got)
	require.True(t, ok)
	require.Equal(t, raw, back)
}

func TestUserTypeValid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   domain.UserType
		want bool
	}{
		{in: domain.UserTypeClient, want: true},
		{in: domain.UserTypeOwner, want: true},
		{in: "admin", want: false},
		{in: "", want: false},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.in.Valid())
		})
	}
}

func TestEndpointPolicyCheck(t *testing.T) {
	t.Parallel()

	defaults := domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}
	loopback := domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts, AllowLoopback: true}
	star := domain.EndpointPolicy{AllowedHosts: []string{"*"}}
	wildcard := domain.EndpointPolicy{AllowedHosts: []string{"*.example.com"}}
	exact := domain.EndpointPolicy{AllowedHosts: []string{"push.example.com"}}

	tests := []struct {
		name     string
		policy   domain.EndpointPolicy
		endpoint string
		wantErr  string // substring of the reason; "" means allowed
	}{
		{name: "FCM", policy: defaults, endpoint: "https://fcm.googleapis.com/fcm/send/abc"},
		{name: "Mozilla", policy: defaults, endpoint: "https://updates.push.services.mozilla.com/wpush/v2/gAAA"},
		{name: "Apple", policy: defaults, endpoint: "https://web.push.apple.com/QGx"},
		{name: "WNS", policy: defaults, endpoint: "https://wns2-par02p.notify.windows.com/w/?token=BQY"},
		{name: "host case-insensitive", policy: defaults, endpoint: "https://FCM.GoogleAPIs.com/fcm/send/abc"},
		{name: "port 443 allowed", policy: defaults, endpoint: "https://fcm.googleapis.com:443/fcm/send/abc"},
		{name: "port 0443 allowed", policy: defaults, endpoint: "https://fcm.googleapis.com:0443/fcm/send/abc"},
		{name: "empty port allowed", policy: defaults, endpoint: "https://fcm.googleapis.com:/fcm/send/abc"},
		{name: "port 8443 refused", policy: defaults, endpoint: "https://fcm.googleapis.com:8443/fcm/send/abc", wantErr: "port must be 443"},
		{name: "port 80 refused", policy: defaults, endpoint: "https://fcm.googleapis.com:80/fcm/send/abc", wantErr: "port must be 443"},
		{name: "other port refused with star", policy: star, endpoint: "https://push.anything.test:22/x", wantErr: "port must be 443"},
		{name: "port 0 refused", policy: defaults, endpoint: "https://fcm.googleapis.com:0/x", wantErr: "not a valid port"},
		{name: "port out of range refused", policy: loopback, endpoint: "http://127.0.0.1:65536/x", wantErr: "not a valid port"},
		{name: "legacy GCM", policy: defaults, endpoint: "https://android.googleapis.com/gcm/send/abc"},
		{name: "trailing dot", policy: defaults, endpoint: "https://fcm.googleapis.com./fcm/send/abc"},
		{name: "other googleapis host refused", policy: defaults, endpoint: "https://storage.googleapis.com/bucket/x", wantErr: "not an allowed push service"},
		{name: "googleapis apex refused", policy: defaults, endpoint: "https://googleapis.com/x", wantErr: "not an allowed push service"},
		{name: "other mozilla push host refused", policy: defaults, endpoint: "https://evil.push.services.mozilla.com/x", wantErr: "not an allowed push service"},
		{name: "sub of Mozilla's host refused", policy: defaults, endpoint: "https://a.updates.push.services.mozilla.com/x", wantErr: "not an allowed push service"},
		{name: "Apple apex refused", policy: defaults, endpoint: "https://push.apple.com/x", wantErr: "not an allowed push service"},
		{name: "Apple other host", policy: defaults, endpoint: "https://api.push.apple.com/x"},
		{name: "IPv6 zone refused", policy: loopback, endpoint: "http://[::1%25lo]:8080/x", wantErr: "IP address"},
		{name: "localhost subdomain refused in loopback mode too", policy: loopback, endpoint: "http://a.localhost:22/x", wantErr: "loopback"},
		{name: "fragment refused", policy: defaults, endpoint: "https://fcm.googleapis.com/fcm/send/T#x", wantErr: "#"},
		{name: "bare query refused", policy: defaults, endpoint: "https://fcm.googleapis.com/fcm/send/T?", wantErr: "empty query"},
		{name: "escaped letter refused", policy: defaults, endpoint: "https://fcm.googleapis.com/fcm/send/%54OKEN", wantErr: "percent-encode"},
		{name: "escaped tilde in query refused", policy: defaults, endpoint: "https://wns2-par02p.notify.windows.com/w/?token=a%7Eb", wantErr: "percent-encode"},
		{name: "http FCM refused", policy: defaults, endpoint: "http://fcm.googleapis.com/fcm/send/abc", wantErr: "https"},
		{name: "other scheme refused", policy: defaults, endpoint: "ftp://fcm.googleapis.com/x", wantErr: "https"},
		{name: "unknown host refused", policy: defaults, endpoint: "https://push.example.com/x", wantErr: "not an allowed push service"},
		{name: "suffix without dot refused", policy: defaults, endpoint: "https://evilgoogleapis.com/x", wantErr: "not an allowed push service"},
		{name: "empty label refused", policy: defaults, endpoint: "https://.googleapis.com/x", wantErr: "valid DNS name"},
		{name: "double dot refused", policy: defaults, endpoint: "https://a..googleapis.com/x", wantErr: "valid DNS name"},
		{name: "escaped byte refused", policy: defaults, endpoint: "https://x%ff.googleapis.com/", wantErr: "valid DNS name"},
		{name: "public IPv4 refused", policy: defaults, endpoint: "https://8.8.8.8/x", wantErr: "IP address"},
		{name: "public IPv6 refused", policy: defaults, endpoint: "https://[2001:4860:4860::8888]/x", wantErr: "IP address"},
		{name: "public IP refused with star", policy: star, endpoint: "https://8.8.8.8/x", wantErr: "IP address"},
		{name: "localhost with trailing dot refused", policy: star, endpoint: "https://localhost./x", wantErr: "loopback"},
		{name: "subdomain of localhost refused", policy: star, endpoint: "https://foo.localhost/x", wantErr: "loopback"},
		{name: "decimal IPv4 refused", policy: star, endpoint: "https://2130706433/x", wantErr: "IP address"},
		{name: "zero host refused", policy: star, endpoint: "https://0/x", wantErr: "IP address"},
		{name: "hex IPv4 refused", policy: star, endpoint: "https://0x7f.1/x", wantErr: "IP address"},
		{name: "10.x refused with loopback", policy: loopback, endpoint: "https://10.0.0.1/x", wantErr: "IP address"},
		{name: "192.168.x refused with loopback", policy: loopback, endpoint: "https://192.168.1.10/x", wantErr: "IP address"},
		{name: "fd00::1 refused with loopback", policy: loopback, endpoint: "https://[fd00::1]/x", wantErr: "IP address"},
		{name: "link-local refused with loopback", policy: loopback, endpoint: "https://169.254.169.254/latest", wantErr: "IP address"},
		{name: "private http refused with loopback", policy: loopback, endpoint: "http://10.0.0.1/x", wantErr: "https"},
		{name: "127.0.0.1 refused", policy: defaults, endpoint: "https://127.0.0.1:8443/x", wantErr: "loopback"},
		{name: "127.2.3.4 refused", policy: defaults, endpoint: "https://127.2.3.4/x", wantErr: "loopback"},
		{name: "localhost refused", policy: defaults, endpoint: "https://localhost/x", wantErr: "loopback"},
		{name: "LOCALHOST refused", policy: defaults, endpoint: "https://LOCALHOST/x", wantErr: "loopback"},
		{name: "::1 refused", policy: defaults, endpoint: "https://[::1]:8443/x", wantErr: "loopback"},
		{name: "mapped loopback refused", policy: defaults, endpoint: "https://[::ffff:127.0.0.1]/x", wantErr: "loopback"},
		{name: "loopback refused with star", policy: star, endpoint: "https://127.0.0.1/x", wantErr: "loopback"},
		{name: "127.0.0.1 http allowed", policy: loopback, endpoint: "http://127.0.0.1:8080/push/1"},
		{name: "127.0.0.1 https allowed", policy: loopback, endpoint: "https://127.0.0.1:8443/push/1"},
		{name: "localhost http allowed", policy: loopback, endpoint: "http://localhost:8080/push/1"},
		{name: "localhost https allowed", policy: loopback, endpoint: "https://localhost/push/1"},
		{name: "::1 http allowed", policy: loopback, endpoint: "http://[::1]:8080/push/1"},
		{name: "::1 https allowed", policy: loopback, endpoint: "https://[::1]/push/1"},
		{name: "loopback other scheme refused", policy: loopback, endpoint: "ftp://127.0.0.1/x", wantErr: "https"},
		{name: "FCM still allowed with loopback", policy: loopback, endpoint: "https://fcm.googleapis.com/fcm/send/abc"},
		{name: "userinfo refused", policy: defaults, endpoint: "https://user:pass@fcm.googleapis.com/x", wantErr: "credentials"},
		{name: "user only refused", policy: defaults, endpoint: "https://user@fcm.googleapis.com/x", wantErr: "credentials"},
		{name: "userinfo refused on loopback", policy: loopback, endpoint: "http://u:p@127.0.0.1/x", wantErr: "credentials"},
		{name: "max length allowed", policy: defaults, endpoint: padEndpoint(domain.MaxEndpointLength)},
		{name: "too long refused", policy: defaults, endpoint: padEndpoint(domain.MaxEndpointLength + 1), wantErr: "2048"},
		{name: "relative refused", policy: defaults, endpoint: "/fcm/send/abc", wantErr: "absolute"},
		{name: "host-relative refused", policy: defaults, endpoint: "//fcm.googleapis.com/fcm/send/abc", wantErr: "absolute"},
		{name: "no host refused", policy: defaults, endpoint: "https:///x", wantErr: "absolute"},
		{name: "opaque refused", policy: defaults, endpoint: "https:fcm.googleapis.com/x", wantErr: "absolute"},
		{name: "unparsable refused", policy: defaults, endpoint: "https://fcm.googleapis.com/%zz", wantErr: "absolute"},
		{name: "empty refused", policy: defaults, endpoint: "", wantErr: "absolute"},
		{name: "star any host", policy: star, endpoint: "https://push.anything.test/x"},
		{name: "star still needs https", policy: star, endpoint: "http://push.anything.test/x", wantErr: "https"},
		{name: "wildcard subdomain", policy: wildcard, endpoint: "https://push.example.com/x"},
		{name: "wildcard deep subdomain", policy: wildcard, endpoint: "https://a.b.example.com/x"},
		{name: "wildcard not apex", policy: wildcard, endpoint: "https://example.com/x", wantErr: "not an allowed push service"},
		{name: "wildcard not badexample", policy: wildcard, endpoint: "https://badexample.com/x", wantErr: "not an allowed push service"},
		{name: "wildcard not suffix trick", policy: wildcard, endpoint: "https://example.com.evil.test/x", wantErr: "not an allowed push service"},
		{name: "exact host", policy: exact, endpoint: "https://push.example.com/x"},
		{name: "exact not sub", policy: exact, endpoint: "https://a.push.example.com/x", wantErr: "not an allowed push service"},
		{name: "no hosts refuses all", policy: domain.EndpointPolicy{}, endpoint: "https://fcm.googleapis.com/x", wantErr: "not an allowed push service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := tt.policy.Check(tt.endpoint)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var perr *domain.PolicyError
			require.ErrorAs(t, err, &perr)
			require.Contains(t, perr.Reason, tt.wantErr)
			require.Equal(t, perr.Reason, err.Error())
		})
	}
}

func TestEndpointPolicyNormalize(t *testing.T) {
	t.Parallel()

	defaults := domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}
	loopback := domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts, AllowLoopback: true}
	const token = "/fcm/send/dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"

	tests := []struct {
		name   string
		policy domain.EndpointPolicy
		raw    string
		want   string
	}{
		{name: "canonical kept", policy: defaults, raw: "https://fcm.googleapis.com" + token, want: "https://fcm.googleapis.com" + token},
		{name: "scheme and host lowered, path case kept", policy: defaults, raw: "HTTPS://FCM.GOOGLEAPIS.COM" + token, want: "https://fcm.googleapis.com" + token},
		{name: "trailing dot dropped", policy: defaults, raw: "https://fcm.googleapis.com." + token, want: "https://fcm.googleapis.com" + token},
		{name: "default port dropped", policy: defaults, raw: "https://fcm.googleapis.com:443" + token, want: "https://fcm.googleapis.com" + token},
		{name: "all at once", policy: defaults, raw: "HTTPS://FCM.GOOGLEAPIS.COM.:0443" + token, want: "https://fcm.googleapis.com" + token},
		{name: "empty port dropped", policy: defaults, raw: "https://fcm.googleapis.com:" + token, want: "https://fcm.googleapis.com" + token},
		{name: "query kept byte for byte", policy: defaults, raw: "https://WNS2-PAR02P.notify.windows.com/w/?token=BQYAAAB%2bAbC%3d", want: "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB%2bAbC%3d"},
		{name: "escapes in path not re-encoded", policy: defaults, raw: "https://web.push.apple.com/QGx%2fA~b%2F", want: "https://web.push.apple.com/QGx%2fA~b%2F"},
		{name: "no path", policy: defaults, raw: "https://Web.Push.Apple.com", want: "https://web.push.apple.com"},
		{name: "query without path", policy: defaults, raw: "https://Web.Push.Apple.com?x=Y", want: "https://web.push.apple.com?x=Y"},
		{name: "loopback keeps its port", policy: loopback, raw: "HTTP://LocalHost:39211/push/AbC", want: "http://localhost:39211/push/AbC"},
		{name: "loopback IP keeps its port", policy: loopback, raw: "http://127.0.0.1:39211/push/AbC", want: "http://127.0.0.1:39211/push/AbC"},
		{name: "loopback http default port dropped", policy: loopback, raw: "http://127.0.0.1:80/push/1", want: "http://127.0.0.1/push/1"},
		{name: "loopback https default port dropped", policy: loopback, raw: "https://localhost.:443/push/1", want: "https://localhost/push/1"},
		{name: "IPv6 loopback", policy: loopback, raw: "http://[::1]:8080/push/1", want: "http://[::1]:8080/push/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := tt.policy.Normalize(tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			again, err := tt.policy.Normalize(got)
			require.NoError(t, err, "the canonical form passes the policy too")
			require.Equal(t, got, again, "idempotent")
			require.Equal(t, got, domain.CanonicalEndpoint(tt.raw), "unsubscribe finds what subscribe stored")
		})
	}
}

func TestCanonicalEndpoint_NotAURL(t *testing.T) {
	t.Parallel()

	for _, raw := range []string{"", "not a url", "/fcm/send/x", "https://fcm.googleapis.com/%zz", "https://u:p@FCM.googleapis.com/x", "http://[::1%25lo]/x"} {
		require.Equal(t, raw, domain.CanonicalEndpoint(raw), "kept as is: %q", raw)
	}
}

func TestDecoySubscriptionID(t *testing.T) {
	t.Parallel()
	key := []byte("a service secret")

	id := domain.DecoySubscriptionID(key, fcmEndpoint, "user-1", domain.UserTypeClient)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id, "shaped like gen_random_uuid()")
	require.Equal(t, id, domain.DecoySubscriptionID(key, fcmEndpoint, "user-1", domain.UserTypeClient), "a retry gets the same id")
	require.NotEqual(t, id, domain.DecoySubscriptionID(key, fcmEndpoint, "user-2", domain.UserTypeClient))
	require.NotEqual(t, id, domain.DecoySubscriptionID(key, fcmEndpoint, "user-1", domain.UserTypeOwner))
	require.NotEqual(t, id, domain.DecoySubscriptionID(key, fcmEndpoint+"x", "user-1", domain.UserTypeClient))
	// The separators keep the parts apart: ("ab", "c") is not ("a", "bc").
	require.NotEqual(t, domain.DecoySubscriptionID(key, "e", "ab", "c"), domain.DecoySubscriptionID(key, "e", "a", "bc"))
	// Keyed: a caller who knows what it sent cannot compute the id.
	require.NotEqual(t, id, domain.DecoySubscriptionID([]byte("another secret"), fcmEndpoint, "user-1", domain.UserTypeClient))
}

// padEndpoint returns an FCM endpoint exactly n bytes long.
func padEndpoint(n int) string {
	const prefix = "https://fcm.googleapis.com/fcm/send/"
	return prefix + strings.Repeat("a", n-len(prefix))
}

func TestMatchHost(t *testing.T) {
	t.Parallel()

	tests := []struct {
		pattern, host string
		want          bool
	}{
		{pattern: "*", host: "anything.test", want: true},
		{pattern: "*.example.com", host: "a.example.com", want: true},
		{pattern: "*.Example.COM", host: "a.example.com", want: true},
		{pattern: "*.example.com", host: "example.com", want: false},
		{pattern: "*.example.com", host: "badexample.com", want: false},
		{pattern: "example.com", host: "example.com", want: true},
		{pattern: "example.com", host: "a.example.com", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.host, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, domain.MatchHost(tt.pattern, tt.host))
		})
	}
}

func TestValidHostPattern(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want bool
	}{
		{in: "*", want: true},
		{in: "*.googleapis.com", want: true},
		{in: "push.example.com", want: true},
		{in: "localhost", want: true},
		{in: "", want: false},
		{in: "*.", want: false},
		{in: "*.*.com", want: false},
		{in: "a*.com", want: false},
		{in: "http://x", want: false},
		{in: "example.com/path", want: false},
		{in: "example.com:443", want: false},
		{in: "user@example.com", want: false},
		{in: "exa mple.com", want: false},
		{in: ".example.com", want: false},
		{in: "example.com.", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, domain.ValidHostPattern(tt.in))
		})
	}
	for _, p := range domain.DefaultPushHosts {
		require.True(t, domain.ValidHostPattern(p), p)
	}
}

func TestEndpointLabel(t *testing.T) {
	t.Parallel()

	const secretPath = "/fcm/send/dQw4w9WgXcQ:APA91bSecretToken"
	tests := []struct {
		name     string
		endpoint string
		host     string
	}{
		{name: "fcm", endpoint: "https://fcm.googleapis.com" + secretPath, host: "fcm.googleapis.com"},
		{name: "with port", endpoint: "http://127.0.0.1:8080" + secretPath, host: "127.0.0.1:8080"},
		{name: "invalid", endpoint: "::not a url" + secretPath, host: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			label := domain.EndpointLabel(tt.endpoint)
			require.True(t, strings.HasPrefix(label, tt.host+"#"), label)
			require.NotContains(t, label, "fcm/send")
			require.NotContains(t, label, "Secret")
			require.Len(t, label, len(tt.host)+1+8)
			require.Equal(t, label, domain.EndpointLabel(tt.endpoint), "label must be stable")
		})
	}

	a := domain.EndpointLabel("https://fcm.googleapis.com/fcm/send/a")
	b := domain.EndpointLabel("https://fcm.googleapis.com/fcm/send/b")
	require.NotEqual(t, a, b, "labels must tell endpoints apart")
}

func TestValidationError(t *testing.T) {
	t.Parallel()

	err := domain.Invalid("endpoint", "is required")
	require.ErrorIs(t, err, domain.ErrInvalid)
	require.Equal(t, "endpoint: is required", err.Error())
	require.Equal(t, []domain.FieldError{{Field: "endpoint", Message: "is required"}}, err.Fields)

	multi := &domain.ValidationError{Fields: []domain.FieldError{
		{Field: "a", Message: "x"},
		{Field: "b", Message: "y"},
	}}
	require.Equal(t, "a: x; b: y", multi.Error())

	wrapped := errors.Join(errors.New("context"), multi)
	var verr *domain.ValidationError
	require.ErrorAs(t, wrapped, &verr)
	require.ErrorIs(t, wrapped, domain.ErrInvalid)
}

func TestAuthError(t *testing.T) {
	t.Parallel()

	err := &domain.AuthError{Reason: "token expired"}
	require.ErrorIs(t, err, domain.ErrUnauthenticated)
	require.NotErrorIs(t, err, domain.ErrInvalid)
	require.Equal(t, "token expired", err.Error())
}

func TestParseUserType(t *testing.T) {
	t.Parallel()

	for _, s := range []string{"client", "owner"} {
		got, err := domain.ParseUserType(s)
		require.NoError(t, err)
		require.Equal(t, domain.UserType(s), got)
	}
	for _, s := range []string{"", "Client", "admin", " owner"} {
		_, err := domain.ParseUserType(s)
		require.EqualError(t, err, `must be "client" or "owner"`, "%q", s)
	}
}
