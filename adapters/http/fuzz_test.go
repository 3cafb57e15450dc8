package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/domain"
)

// Deterministic key material for the seeds: the user agent's public key and
// auth secret of RFC 8291, section 5.
const (
	fuzzP256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	fuzzAuth   = "BTBZMqHH6r4Tts7J_aSIgg"
	fuzzFCM    = "https://fcm.googleapis.com/fcm/send/abc:def-123"
)

var fuzzSecret = []byte("fuzz-secret-0123456789abcdef0123")

// Fixed instants, so the tokens in the seeds are the same on every run.
var (
	fuzzIssued = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	fuzzFar    = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fuzzHandler is the real router and JWT middleware over fakeApp, which
// validates like the real app; logs are discarded.
func fuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	// AllowNoRole: FuzzSubscribe's one role-less token may post bodies of
	// either role.
	v, err := auth.NewVerifier(auth.Config{Secret: fuzzSecret, AllowNoRole: true})
	if err != nil {
		tb.Fatal(err)
	}
	return httpadapter.NewHandler(httpadapter.Config{
		Notifications: fakeApp{policy: domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}},
		Tokens:        v,
		Logger:        slog.New(slog.DiscardHandler),
	})
}

// fuzzToken is a valid HS256 token until 2100.
func fuzzToken(tb testing.TB, ut domain.UserType, issued, expires time.Time) string {
	tb.Helper()
	tok, err := auth.Mint(fuzzSecret, auth.Shape{}, "fuzz-user", ut, expires.Sub(issued), issued)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// apiAnswer is every field any of the notification endpoints may answer.
type apiAnswer struct {
	Success        *bool  `json:"success"`
	Message        string `json:"message"`
	SubscriptionID string `json:"subscription_id"`
	Detail         string `json:"detail"`
	Errors         []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// decodeAnswer checks the contract's shape that every answer shares: JSON,
// with success, and a non-empty detail on errors.
func decodeAnswer(t *testing.T, w *httptest.ResponseRecorder, input any) apiAnswer {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("input %q: status %d with Content-Type %q", input, w.Code, ct)
	}
	var a apiAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("input %q: status %d, body is not JSON (%v): %q", input, w.Code, err, w.Body)
	}
	if a.Success == nil {
		t.Fatalf("input %q: status %d, body has no success: %s", input, w.Code, w.Body)
	}
	if w.Code != http.StatusOK {
		if *a.Success || a.Detail == "" {
			t.Fatalf("input %q: status %d needs success=false and a detail: %s", input, w.Code, w.Body)
		}
	}
	return a
}

func subscribeBody(endpoint, p256dh, auth, userType string) string {
	return fmt.Sprintf(`{"subscription":{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}},"user_type":%q}`,
		endpoint, p256dh, auth, userType)
}

// FuzzSubscribe posts arbitrary bodies, with a valid token, to the real
// subscribe handler. Whatever the body, the answer is 200, 413 or 422 (never
// a 5xx or a panic) in the contract's shape: a 422 names each field. The body
// is sent twice, once with its length declared and once streamed, since the
// size limit has a path for each.
func FuzzSubscribe(f *testing.F) {
	good := subscribeBody(fuzzFCM, fuzzP256dh, fuzzAuth, "client")
	keys := `"keys":{"p256dh":"` + fuzzP256dh + `","auth":"` + fuzzAuth + `"}`
	stdP256dh := "BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4="
	seeds := []string{
		good,
		subscribeBody("https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB", stdP256dh, fuzzAuth+"==", "owner"),
		`{"subscription":{"endpoint":"https://web.push.apple.com/QGuQyavXutnMH",` + keys + `},"user_type":"client","locale":"ky"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","expirationTime":1767225600000,` + keys + `},"user_type":"owner"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","expirationTime":"tomorrow",` + keys + `},"user_type":"owner"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","expirationTime":-1e999,` + keys + `},"user_type":"owner"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `",` + keys + `},"user_type":"client","extra":[[[[[[[[[[]]]]]]]]]]}`,
		`{"SUBSCRIPTION":{"Endpoint":"` + fuzzFCM + `",` + keys + `},"User_Type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `",` + keys + `},"user_type":"client"} `,
		// Malformed JSON.
		``, ` `, `{`, `}`, `{"subscription":`, `{"subscription":{}`, `{"a":1,}`, `{'a':1}`, `nul`,
		good + `{}`, good + good, good[:len(good)/2], `{"subscription":{"endpoint":"\ud800"}}`,
		"\xef\xbb\xbf" + good, "{\"user_type\":\"cli\x00ent\"}", "{\"user_type\":\"\xff\xfe\"}",
		// Wrong types and nulls.
		`null`, `[]`, `[` + good + `]`, `"string"`, `42`, `true`, `{}`,
		`{"subscription":null,"user_type":null}`,
		`{"subscription":"https://fcm.googleapis.com/x","user_type":"client"}`,
		`{"subscription":[],"user_type":"client"}`,
		`{"subscription":{"endpoint":42,` + keys + `},"user_type":"client"}`,
		`{"subscription":{"endpoint":1e999,` + keys + `},"user_type":"client"}`,
		`{"subscription":{"endpoint":true,` + keys + `},"user_type":"client"}`,
		`{"subscription":{"endpoint":["` + fuzzFCM + `"],` + keys + `},"user_type":"client"}`,
		`{"subscription":{"endpoint":{"url":"` + fuzzFCM + `"},` + keys + `},"user_type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","keys":null},"user_type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","keys":"k"},"user_type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","keys":{"p256dh":65,"auth":16}},"user_type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `","keys":{"p256dh":[4,1,2],"auth":null}},"user_type":"client"}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `",` + keys + `},"user_type":1}`,
		`{"subscription":{"endpoint":"` + fuzzFCM + `",` + keys + `},"user_type":"client","locale":["ru"]}`,
		// Invalid values.
		subscribeBody("", "", "", ""),
		subscribeBody("http://fcm.googleapis.com/x", fuzzP256dh[:86], fuzzAuth+"AA", "admin"),
		subscribeBody("https://127.0.0.1/push", "BA"+strings.Repeat("A", 85), fuzzAuth, "client"),
		subscribeBody("https://evil.example/push", fuzzP256dh, fuzzAuth, "Owner"),
		subscribeBody("https://user:pw@fcm.googleapis.com/x", "not base64!", "%%%%", "owner"),
		`{"subscription":{"endpoint":"` + fuzzFCM + `",` + keys + `},"user_type":"client","locale":"english!"}`,
		// Unicode and escapes.
		subscribeBody("https://\u0444\u0446\u043c.googleapis.com/\u00e9", "\u00e9\u00e9", "\U0001F511", "\u043a\u043b\u0438\u0435\u043d\u0442"),
		`{"subscription":{"endpoint":"https:\/\/fcm.googleapis.com\/x","keys":{"p256dh":"\u0042` + fuzzP256dh[1:] + `","auth":"` + fuzzAuth + `"}},"user_type":"\u0063lient"}`,
		// Huge strings: just under and over the 64 KiB limit, and deep nesting.
		subscribeBody("https://fcm.googleapis.com/"+strings.Repeat("a", 3000), fuzzP256dh, fuzzAuth, "client"),
		subscribeBody(fuzzFCM, strings.Repeat("A", 60000), fuzzAuth, "client"),
		subscribeBody(fuzzFCM, strings.Repeat("A", httpadapter.MaxBodyBytes), fuzzAuth, "client"),
		good + strings.Repeat(" ", httpadapter.MaxBodyBytes),
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"extra":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000) + `}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := fuzzHandler(f)
	tok := fuzzToken(f, "", fuzzIssued, fuzzFar)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, streamed := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(body)
			if streamed {
				r = io.MultiReader(r) // hides the length: ContentLength -1
			}
			req := httptest.NewRequest(http.MethodPost, "/api/v1/notifications/subscribe", r)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			a := decodeAnswer(t, w, body)
			switch w.Code {
			case http.StatusOK:
				if !*a.Success || a.Message == "" || a.SubscriptionID == "" {
					t.Fatalf("body %q: 200 without success, message and id: %s", body, w.Body)
				}
			case http.StatusRequestEntityTooLarge:
				if len(body) <= httpadapter.MaxBodyBytes {
					t.Fatalf("body of %d bytes refused as too large", len(body))
				}
			case http.StatusUnprocessableEntity:
				if len(a.Errors) == 0 {
					t.Fatalf("body %q: 422 without errors: %s", body, w.Body)
				}
				for _, e := range a.Errors {
					if e.Field == "" || e.Message == "" {
						t.Fatalf("body %q: 422 with an unnamed field error: %s", body, w.Body)
					}
				}
			default:
				t.Fatalf("body %q (streamed %v): status %d: %s", body, streamed, w.Code, w.Body)
			}
		}
	})
}

// FuzzAuthorizationHeader sends arbitrary Authorization headers to POST
// /test. The answer is 200 (only for the one valid token) or 401 with
// WWW-Authenticate, never a 5xx or a panic.
func FuzzAuthorizationHeader(f *testing.F) {
	valid := fuzzToken(f, domain.UserTypeClient, fuzzIssued, fuzzFar)
	expired := fuzzToken(f, domain.UserTypeClient, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC))
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "fuzz-user", "exp": fuzzFar.Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "fuzz-user", "exp": fuzzFar.Unix()}).
		SignedString([]byte("some-other-secret-0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"Bearer " + valid, "bearer " + valid, "BEARER   " + valid + "  ", " Bearer " + valid + "\t",
		"Bearer\t" + valid, "Bearer " + valid + " extra", "Bearer Bearer " + valid, "Bearer " + valid + ".",
		"Bearer " + expired, "Bearer " + none, "Bearer " + other, valid, "Token " + valid,
		"Basic ZnV6ejpmdXp6", "Bearer garbage", "Bearer a.b.c", "Bearer ...", "Bearer \x00",
		"", " ", "Bearer", "Bearer ", "Bearer  ", "Bearer \u00a0", "Bearer\u00a0" + valid,
		"Bearer \xff\xfe", "Bearer " + strings.Repeat("A", 100000),
		"Bearer " + strings.Repeat("eyJ.", 5000),
	} {
		f.Add(s)
	}
	h := fuzzHandler(f)
	signed := valid[:strings.LastIndexByte(valid, '.')+1]
	f.Fuzz(func(t *testing.T, authz string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/notifications/test", nil)
		req.Header["Authorization"] = []string{authz}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		decodeAnswer(t, w, authz)
		switch w.Code {
		case http.StatusOK:
			if !strings.Contains(authz, signed) {
				t.Fatalf("Authorization %q accepted, but it does not carry the valid token", authz)
			}
		case http.StatusUnauthorized:
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("Authorization %q: 401 without WWW-Authenticate: Bearer (%q)", authz, w.Header().Get("WWW-Authenticate"))
			}
		default:
			t.Fatalf("Authorization %q: status %d: %s", authz, w.Code, w.Body)
		}
	})
}
