package http_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	httpadapter "github.com/evpower/evpush/adapters/http"
)

const opsUser, opsPass = "ops", "correct-horse-battery"

// opsHandler is the router with River UI and metrics stood in for by
// handlers that answer 200.
func opsHandler(limit httpadapter.RateLimit) http.Handler {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return httpadapter.NewHandler(httpadapter.Config{Logger: slog.New(slog.DiscardHandler), Ops: &httpadapter.Ops{
		Username: opsUser, Password: opsPass, UI: ok, Metrics: ok, LoginLimit: limit,
	}})
}

// opsCall sends GET path from remote (ip:port) with the given password; ""
// sends no credentials.
func opsCall(h http.Handler, path, remote, pass string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remote
	if pass != "" {
		req.SetBasicAuth(opsUser, pass)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func requireOpsHeaders(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"), "status %d", w.Code)
	require.Equal(t, "frame-ancestors 'none'", w.Header().Get("Content-Security-Policy"), "status %d", w.Code)
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"), "status %d", w.Code)
}

// TestOpsLoginThrottle: after Burst failures from one address, that address
// gets 429 with Retry-After, even with the right password; successes never
// count; other addresses, and X-Forwarded-For, change nothing.
func TestOpsLoginThrottle(t *testing.T) {
	t.Parallel()
	// One token a minute: none comes back while the test runs.
	h := opsHandler(httpadapter.RateLimit{PerMinute: 1, Burst: 3})
	const guesser, operator = "198.51.100.7:4000", "203.0.113.9:5000"

	for range 10 {
		require.Equal(t, http.StatusOK, opsCall(h, "/riverui/", guesser, opsPass).Code, "successes are not counted")
	}
	for i := range 3 {
		// A forged X-Forwarded-For does not make the guesser someone else.
		w := opsCall(h, "/riverui/", guesser, "wrong-password-"+strconv.Itoa(i), "X-Forwarded-For", "192.0.2."+strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	for _, tc := range []struct{ path, pass string }{
		{"/riverui/", "wrong-password"},
		{"/riverui/", opsPass}, // a right guess looks the same as a wrong one
		{"/metrics", opsPass},  // one throttle for both
		{"/riverui/", ""},
	} {
		w := opsCall(h, tc.path, guesser, tc.pass, "X-Forwarded-For", "192.0.2.99")
		require.Equal(t, http.StatusTooManyRequests, w.Code, "%s %q", tc.path, tc.pass)
		secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err)
		require.Positive(t, secs)
		require.LessOrEqual(t, secs, 60)
		require.JSONEq(t, `{"success":false,"detail":"Too many failed logins from this address; retry in `+strconv.Itoa(secs)+` s"}`, w.Body.String())
		requireOpsHeaders(t, w)
	}
	require.Equal(t, http.StatusOK, opsCall(h, "/riverui/", operator, opsPass).Code, "other addresses log in")
	require.Equal(t, http.StatusOK, opsCall(h, "/metrics", operator, opsPass).Code)
}

// TestOpsLoginThrottleIPv6: addresses of one /64 share an allowance.
func TestOpsLoginThrottleIPv6(t *testing.T) {
	t.Parallel()
	h := opsHandler(httpadapter.RateLimit{PerMinute: 1, Burst: 2})
	require.Equal(t, http.StatusUnauthorized, opsCall(h, "/metrics", "[2001:db8:0:1::a]:1", "wrong").Code)
	require.Equal(t, http.StatusUnauthorized, opsCall(h, "/metrics", "[2001:db8:0:1::b]:1", "wrong").Code)
	require.Equal(t, http.StatusTooManyRequests, opsCall(h, "/metrics", "[2001:db8:0:1::c]:1", "wrong").Code)
	require.Equal(t, http.StatusOK, opsCall(h, "/metrics", "[2001:db8:0:2::a]:1", opsPass).Code, "another /64")
}

// TestOpsHeaders: every answer under /riverui and /metrics carries the
// anti-framing and no-store headers; the API's do not need them.
func TestOpsHeaders(t *testing.T) {
	t.Parallel()
	h := opsHandler(httpadapter.RateLimit{PerMinute: 1, Burst: 1})
	const remote = "198.51.100.1:1"
	for _, tc := range []struct {
		path, pass string
		status     int
	}{
		{"/riverui/", opsPass, http.StatusOK},
		{"/riverui/api/jobs", opsPass, http.StatusOK},
		{"/metrics", opsPass, http.StatusOK},
		{"/riverui", "", http.StatusMovedPermanently},
		{"/riverui/", "", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "wrong", http.StatusUnauthorized},
		{"/riverui/", "wrong", http.StatusTooManyRequests},
		{"/metrics", opsPass, http.StatusTooManyRequests},
	} {
		w := opsCall(h, tc.path, remote, tc.pass)
		require.Equal(t, tc.status, w.Code, "%s %q", tc.path, tc.pass)
		requireOpsHeaders(t, w)
	}
	req := httptest.NewRequest(http.MethodPost, "/metrics", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	requireOpsHeaders(t, w)
	w = opsCall(h, "/metrics/", remote, "")
	require.Equal(t, http.StatusMovedPermanently, w.Code, "gin's trailing-slash redirect")
	requireOpsHeaders(t, w)
	w = opsCall(h, "/api/v1/notifications/vapid-public-key", remote, "")
	require.Empty(t, w.Header().Get("X-Frame-Options"), "the API is not an operator page")

	// Off (no operators' credentials), the paths answer 404 with them too.
	off := httpadapter.NewHandler(httpadapter.Config{Logger: slog.New(slog.DiscardHandler)})
	w = httptest.NewRecorder()
	off.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/riverui/", nil))
	require.Equal(t, http.StatusNotFound, w.Code)
	requireOpsHeaders(t, w)
}

// TestOpsHeadersSurviveTheFileServer: net/http's file server deletes
// Cache-Control on its error pages; the header is set again.
func TestOpsHeadersSurviveTheFileServer(t *testing.T) {
	t.Parallel()
	h := httpadapter.NewHandler(httpadapter.Config{Logger: slog.New(slog.DiscardHandler), Ops: &httpadapter.Ops{
		Username: opsUser, Password: opsPass,
		UI: http.StripPrefix(httpadapter.UIPrefix, http.FileServer(http.Dir(t.TempDir()))),
	}})
	w := opsCall(h, "/riverui/no-such-asset.js", "198.51.100.1:1", opsPass)
	require.Equal(t, http.StatusNotFound, w.Code)
	requireOpsHeaders(t, w)

	w = httptest.NewRecorder()
	httpadapter.OpsHeaders(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	requireOpsHeaders(t, w)
}
