package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evpower/evpush/test/openapitest"
)

func loadDoc(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../adapters/http/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.FailNow()
}

func (r *recorder) failed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errors)
}

const (
	subscribePath = "/api/v1/notifications/subscribe"
	p256dh        = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	auth          = "BTBZMqHH6r4Tts7J_aSIgg"
)

var subscribeBody = []byte(`{"subscription":{"endpoint":"https://fcm.googleapis.com/fcm/send/abc",
	"expirationTime":null,"keys":{"p256dh":"` + p256dh + `","auth":"` + auth + `"}},
	"user_type":"client","locale":"ru"}`)

// newRequest builds a request the way a client sends it to a test server on
// some 127.0.0.1 port.
func newRequest(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:38123"+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer x.y.z")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}

func TestDocumentLoadsAndValidates(t *testing.T) {
	v := openapitest.New(t, loadDoc(t))
	doc := v.Doc()
	if doc.OpenAPI != "3.0.3" || doc.Info.Title != "evpush" || doc.Info.Version != "1.4.0" {
		t.Errorf("openapi %q, title %q, version %q", doc.OpenAPI, doc.Info.Title, doc.Info.Version)
	}
	want := map[string]string{
		"GET /api/v1/notifications/vapid-public-key":      "public",
		"POST /api/v1/notifications/subscribe":            "bearer",
		"POST /api/v1/notifications/unsubscribe":          "bearer",
		"POST /api/v1/notifications/test":                 "bearer",
		"GET /api/v1/notifications/subscriptions":         "bearer",
		"DELETE /api/v1/notifications/subscriptions/{id}": "bearer",
		"GET /api/v1/notifications/preferences":           "bearer",
		"PUT /api/v1/notifications/preferences":           "bearer",
		"POST /api/v1/charging/start":                     "bearer",
		"POST /api/v1/charging/stop":                      "bearer",
		"GET /healthz":                                    "public",
		"GET /readyz":                                     "public",
		"GET /openapi.json":                               "public",
	}
	got := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			kind, ok := want[key]
			if !ok {
				t.Errorf("unexpected operation %s", key)
				continue
			}
			got++
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			if public := len(sec) == 0; public != (kind == "public") {
				t.Errorf("%s: security %v, want %s", key, sec, kind)
			}
			if op.Description == "" || op.Summary == "" {
				t.Errorf("%s: no summary or description", key)
			}
			if op.Responses.Status(http.StatusMethodNotAllowed) == nil || op.Responses.Status(http.StatusInternalServerError) == nil {
				t.Errorf("%s: 405 or 500 not documented", key)
			}
			if kind == "bearer" && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s: 401 not documented", key)
			}
		}
	}
	if got != len(want) {
		t.Errorf("%d operations documented, want %d", got, len(want))
	}
	if len(v.Documented()) == 0 {
		t.Error("Documented is empty")
	}
}

func TestGoodExchangesValidate(t *testing.T) {
	v := openapitest.New(t, loadDoc(t))
	rec := &recorder{TB: t}
	uuid := "0b8f5c2e-6a1d-4f3b-9c7e-1d2a3b4c5d6e"

	v.Check(rec, newRequest(t, http.MethodPost, subscribePath, subscribeBody), subscribeBody,
		http.StatusOK, jsonHeader(),
		[]byte(`{"success":true,"message":"Push subscription registered successfully","subscription_id":"`+uuid+`"}`))

	// Server-side requests (httptest.NewRequest) have no scheme or host.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/notifications/vapid-public-key", nil)
	v.Check(rec, req, nil, http.StatusOK, jsonHeader(),
		[]byte(`{"success":true,"data":{"public_key":"BAyJaXxQoothVvz4bJBmbaELCIdWmBQ6uNJqugA_kFgTciQbgU6Hxejo0dQQb96miWNQhUECd3QpXYcGJOPSnKs"}}`))

	v.Check(rec, newRequest(t, http.MethodPost, "/api/v1/notifications/test", nil), nil, http.StatusOK, jsonHeader(),
		[]byte(`{"success":true,"sent_to":1,"failed":1,"message":"Test notification sent to 1 device(s)"}`))

	// An intentionally bad request answered 422: the request is not checked,
	// the response is.
	bad := []byte(`{"subscription": 42`)
	v.Check(rec, newRequest(t, http.MethodPost, subscribePath, bad), bad, http.StatusUnprocessableEntity, jsonHeader(),
		[]byte(`{"success":false,"detail":"body: malformed JSON","errors":[{"field":"body","message":"malformed JSON"}]}`))

	unauth := jsonHeader()
	unauth.Set("WWW-Authenticate", `Bearer realm="evpush"`)
	v.Check(rec, newRequest(t, http.MethodPost, subscribePath, subscribeBody), subscribeBody, http.StatusUnauthorized, unauth,
		[]byte(`{"success":false,"detail":"missing bearer token"}`))

	busy := jsonHeader()
	busy.Set("Retry-After", "5")
	v.Check(rec, newRequest(t, http.MethodPost, "/api/v1/charging/stop", []byte(`{"session_id":"`+uuid+`","energy_kwh":1}`)),
		[]byte(`{"session_id":"`+uuid+`","energy_kwh":1}`), http.StatusServiceUnavailable, busy,
		[]byte(`{"success":false,"detail":"Service temporarily unavailable, retry shortly"}`))

	v.Check(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil), nil, http.StatusOK, jsonHeader(),
		[]byte(`{"status":"ready","checks":{"database":"ok","migrations":"ok","workers":"disabled"}}`))
	v.Check(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil), nil, http.StatusServiceUnavailable, busy,
		[]byte(`{"status":"not_ready","checks":{"database":"connection refused","migrations":"ok","workers":"ok"}}`))

	// A method a path does not serve, and an unknown path.
	v.Check(rec, httptest.NewRequest(http.MethodGet, subscribePath, nil), nil, http.StatusMethodNotAllowed, jsonHeader(),
		[]byte(`{"success":false,"detail":"Method not allowed"}`))
	v.Check(rec, httptest.NewRequest(http.MethodGet, "/nope", nil), nil, http.StatusNotFound, jsonHeader(),
		[]byte(`{"success":false,"detail":"not found"}`))

	if errs := rec.failed(); len(errs) > 0 {
		t.Fatalf("good exchanges failed:\n%s", strings.Join(errs, "\n"))
	}
	covered := v.Covered()
	for _, k := range []string{
		"POST /api/v1/notifications/subscribe 200",
		"GET /api/v1/notifications/vapid-public-key 200",
		"POST /api/v1/notifications/subscribe 422",
		"POST /api/v1/notifications/subscribe 401",
		"POST /api/v1/charging/stop 503",
		"GET /readyz 503",
		"GET /api/v1/notifications/subscribe 405",
		"GET /nope 404",
	} {
		if !covered[k] {
			t.Errorf("%q not covered; covered: %v", k, covered)
		}
	}
	if !slices.Contains(v.Documented(), "POST /api/v1/notifications/subscribe 422") {
		t.Errorf("Documented lacks the subscribe 422: %v", v.Documented())
	}
}

func TestBadExchangesFail(t *testing.T) {
	v := openapitest.New(t, loadDoc(t))
	uuid := "0b8f5c2e-6a1d-4f3b-9c7e-1d2a3b4c5d6e"
	cases := []struct {
		name   string
		req    *http.Request
		body   []byte
		status int
		header http.Header
		resp   string
		want   string // in the error message
	}{
		{
			name: "422 without detail", req: newRequest(t, http.MethodPost, subscribePath, subscribeBody), body: subscribeBody,
			status: http.StatusUnprocessableEntity, header: jsonHeader(),
			resp: `{"success":false,"errors":[{"field":"user_type","message":"is required"}]}`, want: "detail",
		},
		{
			name: "wrong type", req: newRequest(t, http.MethodPost, subscribePath, subscribeBody), body: subscribeBody,
			status: http.StatusOK, header: jsonHeader(),
			resp: `{"success":"true","message":"Push subscription registered successfully","subscription_id":"` + uuid + `"}`,
			want: "success",
		},
		{
			name: "wrong type in test", req: newRequest(t, http.MethodPost, "/api/v1/notifications/test", nil),
			status: http.StatusOK, header: jsonHeader(),
			resp: `{"success":true,"sent_to":"2","message":"Test notification sent to 2 device(s)"}`, want: "sent_to",
		},
		{
			name: "unlisted property", req: newRequest(t, http.MethodPost, "/api/v1/notifications/unsubscribe", []byte(`{"endpoint":"https://x"}`)),
			body: []byte(`{"endpoint":"https://x"}`), status: http.StatusOK, header: jsonHeader(),
			resp: `{"success":true,"message":"Push subscription removed successfully","token":"secret"}`, want: "token",
		},
		{
			name: "user_type outside the enum on an accepted request", req: newRequest(t, http.MethodPost, subscribePath, nil),
			body:   []byte(`{"subscription":{"endpoint":"https://fcm.googleapis.com/x","keys":{"p256dh":"` + p256dh + `","auth":"` + auth + `"}},"user_type":"admin"}`),
			status: http.StatusOK, header: jsonHeader(),
			resp: `{"success":true,"message":"Push subscription registered successfully","subscription_id":"` + uuid + `"}`,
			want: "user_type",
		},
		{
			name: "401 without WWW-Authenticate", req: newRequest(t, http.MethodPost, "/api/v1/notifications/test", nil),
			status: http.StatusUnauthorized, header: jsonHeader(),
			resp: `{"success":false,"detail":"missing bearer token"}`, want: "WWW-Authenticate",
		},
		{
			name: "undocumented status", req: newRequest(t, http.MethodPost, "/api/v1/notifications/unsubscribe", nil),
			status: http.StatusTeapot, header: jsonHeader(),
			resp: `{"success":false,"detail":"teapot"}`, want: "status is not supported",
		},
		{
			name: "not JSON", req: httptest.NewRequest(http.MethodGet, "/healthz", nil),
			status: http.StatusOK, header: http.Header{"Content-Type": {"text/plain"}},
			resp: `ok`, want: "Content-Type",
		},
		{
			name: "undocumented operation", req: httptest.NewRequest(http.MethodDelete, "/healthz", nil),
			status: http.StatusOK, header: jsonHeader(), resp: `{"status":"ok"}`, want: "no operation",
		},
		{
			name: "405 with the wrong body", req: httptest.NewRequest(http.MethodPut, "/healthz", nil),
			status: http.StatusMethodNotAllowed, header: jsonHeader(), resp: `{"error":"nope"}`, want: "detail",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			v.Check(rec, tc.req, tc.body, tc.status, tc.header, []byte(tc.resp))
			errs := rec.failed()
			if len(errs) == 0 {
				t.Fatal("Check accepted a bad exchange")
			}
			if msg := strings.Join(errs, "\n"); !strings.Contains(msg, tc.want) {
				t.Errorf("the error does not mention %q:\n%s", tc.want, msg)
			}
		})
	}
	for k := range v.Covered() {
		t.Errorf("a failed exchange was recorded as covered: %s", k)
	}
}

func TestCheckIsSafeForConcurrentUse(t *testing.T) {
	v := openapitest.New(t, loadDoc(t))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			v.Check(t, httptest.NewRequest(http.MethodGet, "/healthz", nil), nil, http.StatusOK, jsonHeader(), []byte(`{"status":"ok"}`))
			_ = v.Covered()
		})
	}
	wg.Wait()
	if !v.Covered()["GET /healthz 200"] {
		t.Errorf("covered: %v", v.Covered())
	}
}
