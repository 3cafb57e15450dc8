package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/test/pushservice"
	"github.com/evpower/evpush/test/testdb"
)

const opsUser, opsPass = "ops", "ops-password-0123456789"

func opsRequest(t testing.TB, method, u string, body io.Reader, withAuth bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if withAuth {
		req.SetBasicAuth(opsUser, opsPass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// requireOpsHeaders checks what every River UI and /metrics answer carries:
// no framing by other sites, no caching.
func requireOpsHeaders(t testing.TB, resp *http.Response) {
	t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Path + " " + resp.Status
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), where)
	require.Equal(t, "frame-ancestors 'none'", resp.Header.Get("Content-Security-Policy"), where)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), where)
}

func TestRiverUIIsOffWithoutCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	for _, p := range []string{"/riverui/", "/riverui/api/jobs", "/metrics"} {
		resp := opsRequest(t, "GET", e.URL+p, nil, true)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}
}

func TestRiverUIBehindCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"OPS_USERNAME": opsUser, "OPS_PASSWORD": opsPass})

	resp := opsRequest(t, "GET", e.URL+"/riverui/", nil, false)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	requireOpsHeaders(t, resp)
	req, _ := http.NewRequest("GET", e.URL+"/riverui/", nil)
	req.SetBasicAuth(opsUser, "wrong-password")
	wrong, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	wrong.Body.Close()
	require.Equal(t, http.StatusUnauthorized, wrong.StatusCode)
	requireOpsHeaders(t, wrong)

	resp = opsRequest(t, "GET", e.URL+"/riverui/", nil, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	requireOpsHeaders(t, resp)
	page, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(page), "<html")

	// One API call of the UI: the jobs list, showing an event we cause.
	e.station("st-1", "owner-1", "1")
	d := e.Push.NewDevice()
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	r := e.call("POST", chargingAPI+"/start", driverToken(t, "driver-1"), map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	e.Push.WaitFor(t, d, 1, waitBudget)
	e.idle()
	resp = opsRequest(t, "GET", e.URL+"/riverui/api/jobs?state=completed&limit=20", nil, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	jobs, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(jobs), "charging_started")
	require.NotContains(t, string(jobs), d.Endpoint, "no endpoint in job args")

	// A cross-site POST (a form on another site riding on the browser's
	// stored Basic credentials) is refused.
	req, _ = http.NewRequest("POST", e.URL+"/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["1"]}`))
	req.SetBasicAuth(opsUser, opsPass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	cross, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	cross.Body.Close()
	require.Equal(t, http.StatusForbidden, cross.StatusCode)

	// The same request from the UI's own origin goes through.
	req, _ = http.NewRequest("POST", e.URL+"/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["1"]}`))
	req.SetBasicAuth(opsUser, opsPass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	same, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	same.Body.Close()
	require.Less(t, same.StatusCode, 500)
	require.NotEqual(t, http.StatusForbidden, same.StatusCode)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"OPS_USERNAME": opsUser, "OPS_PASSWORD": opsPass})
	e.station("st-1", "owner-1", "1")
	d := e.Push.NewDevice()
	e.subscribe(driverToken(t, "driver-1"), d, "client")
	r := e.call("POST", chargingAPI+"/start", driverToken(t, "driver-1"), map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	e.Push.WaitFor(t, d, 1, waitBudget)
	e.idle()

	resp := opsRequest(t, "GET", e.URL+"/metrics", nil, false)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	requireOpsHeaders(t, resp)
	resp = opsRequest(t, "GET", e.URL+"/metrics", nil, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	requireOpsHeaders(t, resp)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "the text format parses")

	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := families[name]
		require.True(t, ok, "metric %s exported", name)
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		return 0
	}
	require.Equal(t, 1.0, value("evpush_push_deliveries_total", map[string]string{"outcome": "delivered", "push_service": "other"}))
	require.Equal(t, 1.0, value("evpush_http_requests_total", map[string]string{"route": "/api/v1/charging/start", "method": "POST", "status": "200"}))
	require.Equal(t, 1.0, value("evpush_http_requests_total", map[string]string{"route": "/api/v1/notifications/subscribe", "status": "200"}))
	require.Equal(t, 1.0, value("evpush_push_request_duration_seconds", map[string]string{"push_service": "other"}))
	require.Equal(t, 1.0, value("evpush_commit_to_delivery_seconds", nil))
	require.Equal(t, 1.0, value("evpush_subscriptions", map[string]string{"user_type": "client"}))
	require.GreaterOrEqual(t, value("evpush_queue_jobs", map[string]string{"state": "completed"}), 1.0, "the event job, which delivered")
}

func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	e := setup(t, map[string]string{"METRICS_ADDR": addr, "OPS_USERNAME": opsUser, "OPS_PASSWORD": opsPass})
	require.Equal(t, http.StatusNotFound, opsRequest(t, "GET", e.URL+"/metrics", nil, true).StatusCode,
		"not on the public listener")
	var resp *http.Response
	require.Eventually(t, func() bool {
		r, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		r.Body.Close()
		resp = r
		return r.StatusCode == http.StatusOK
	}, waitBudget, 50*time.Millisecond)
	requireOpsHeaders(t, resp)
}

// TestOpsLoginThrottle: after RATE_LIMIT_OPS_LOGIN's burst of failed logins
// from one address, River UI and /metrics answer that address 429 with
// Retry-After, whatever it sends, the right password included (so the answer
// never tells a right guess from a wrong one). Successful logins are never
// counted; the address is the TCP peer, not X-Forwarded-For.
func TestOpsLoginThrottle(t *testing.T) {
	t.Parallel()
	// One token back every ten minutes: none while the test runs, however
	// loaded the machine.
	e := setup(t, map[string]string{"OPS_USERNAME": opsUser, "OPS_PASSWORD": opsPass, "RATE_LIMIT_OPS_LOGIN": "0.1/min,5"})
	// The redirect of /riverui is answered, not followed.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, path, pass, forwardedFor string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", e.URL+path, nil)
		require.NoError(t, err)
		if pass != "" {
			req.SetBasicAuth(opsUser, pass)
		}
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	for i := range 20 {
		path := []string{"/riverui/", "/metrics"}[i%2]
		require.Equal(t, http.StatusOK, get(client, path, opsPass, "").StatusCode, "successes are not counted")
	}
	resp := get(client, "/riverui", "", "")
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	requireOpsHeaders(t, resp)
	for i := range 5 {
		// Each guess claims another origin: it changes nothing.
		resp := get(client, "/riverui/", "wrong-password-"+strconv.Itoa(i), "192.0.2."+strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	for _, c := range []struct{ path, pass string }{
		{"/riverui/", "wrong-password"},
		{"/riverui/", opsPass},
		{"/metrics", opsPass},
		{"/riverui/api/jobs", ""},
	} {
		resp := get(client, c.path, c.pass, "192.0.2.200")
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s %q", c.path, c.pass)
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.Positive(t, secs)
		require.LessOrEqual(t, secs, 600, "a token every ten minutes")
		requireOpsHeaders(t, resp)
	}

	// Another address of this host is someone else. 127.0.0.2 is on the
	// loopback interface on Linux; elsewhere this last step is skipped.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 to call from: %v", err)
	}
	require.NoError(t, ln.Close())
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
	}).DialContext}}
	t.Cleanup(other.CloseIdleConnections)
	require.Equal(t, http.StatusOK, get(other, "/riverui/", opsPass, "").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, get(client, "/metrics", opsPass, "").StatusCode, "the first address still waits")
}

// TestMetricsAndPprofBeyondLoopbackWarn: neither side listener asks for
// credentials, so the wiring warns at start when one binds beyond loopback.
// New only assembles the service (Run listens), so nothing is exposed here.
func TestMetricsAndPprofBeyondLoopbackWarn(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	startLogged(t, map[string]string{"DATABASE_URL": testdb.New(t), "JWT_SECRET": testSecret, "LOG_LEVEL": "warn",
		"METRICS_ADDR": "0.0.0.0:9090", "PPROF_ADDR": ":6060"}, wiring.Options{}, &logs)
	require.Contains(t, logs.String(), `"msg":"METRICS_ADDR is not a loopback address`)
	require.Contains(t, logs.String(), `"msg":"PPROF_ADDR is not a loopback address`)
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	e := setupVia(t, proxy, nil)

	r := e.call("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"status": "ok"}, r.Body)
	r = e.call("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{"status": "ready", "checks": map[string]any{
		"database": "ok", "migrations": "ok", "workers": "ok"}}, r.Body)

	// The database goes away: not ready, API answers 503, the process lives on.
	proxy.Cut()
	require.Eventually(t, func() bool {
		return e.call("GET", "/readyz", "", nil).Status == http.StatusServiceUnavailable
	}, waitBudget, 100*time.Millisecond)
	r = e.call("GET", "/readyz", "", nil)
	require.Equal(t, "not_ready", r.Body["status"])
	require.Equal(t, "unreachable", r.Body["checks"].(map[string]any)["database"])
	tok := driverToken(t, "u1")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", api + "/subscribe", subscribeBody(e.Push.NewDevice(), "client")},
		{"POST", api + "/unsubscribe", map[string]any{"endpoint": "https://fcm.googleapis.com/fcm/send/x"}},
		{"POST", api + "/test", nil},
		{"GET", api + "/subscriptions", nil},
		{"DELETE", api + "/subscriptions/7b0e3c4a-0000-4000-8000-000000000000", nil},
		{"GET", api + "/preferences", nil},
		{"PUT", api + "/preferences", map[string]any{"kinds": map[string]any{"charging_started": false}}},
		{"POST", chargingAPI + "/start", map[string]any{"station_id": "st-1", "connector_id": 1}},
		{"POST", chargingAPI + "/stop", map[string]any{"session_id": "7b0e3c4a-0000-4000-8000-000000000000", "energy_kwh": 1}},
	} {
		r = e.call(c.method, c.path, tok, c.body)
		require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s: %s", c.path, r.Raw)
		require.NotEmpty(t, r.Body["detail"])
		require.Equal(t, "5", r.Header.Get("Retry-After"))
	}
	require.Equal(t, http.StatusOK, e.call("GET", "/healthz", "", nil).Status, "alive all along")

	// It comes back by itself.
	proxy.Restore()
	require.Eventually(t, func() bool {
		return e.call("GET", "/readyz", "", nil).Status == http.StatusOK
	}, waitBudget, 100*time.Millisecond)
	r = e.call("POST", api+"/subscribe", driverToken(t, "u1"), subscribeBody(e.Push.NewDevice(), "client"))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
}

func TestAPIOnlyIsReadyWithoutWorkers(t *testing.T) {
	t.Parallel()
	e := setupWith(t, nil, apiOnly)
	r := e.call("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "disabled", r.Body["checks"].(map[string]any)["workers"])
}

func TestCleanupJobRunsAndRemovesDeadSubscriptions(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"CLEANUP_AFTER": "48h", "CLEANUP_MIN_FAILURES": "3"})
	tok := driverToken(t, "u1")
	dead, young, fine := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	deadID, youngID, fineID := e.subscribe(tok, dead, "client"), e.subscribe(tok, young, "client"), e.subscribe(tok, fine, "client")
	_, err := e.Svc.DB.Exec(`UPDATE push_subscriptions SET failure_count = 3, created_at = now() - interval '3 days' WHERE id = $1`, deadID)
	require.NoError(t, err)
	_, err = e.Svc.DB.Exec(`UPDATE push_subscriptions SET failure_count = 9 WHERE id = $1`, youngID) // failing, but recent
	require.NoError(t, err)
	_, err = e.Svc.DB.Exec(`UPDATE push_subscriptions SET failure_count = 2, created_at = now() - interval '3 days' WHERE id = $1`, fineID)
	require.NoError(t, err)

	n, err := e.Svc.App.CleanupSubscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var left []string
	rows, err := e.Svc.DB.Query(`SELECT id FROM push_subscriptions ORDER BY created_at`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	require.ElementsMatch(t, []string{youngID, fineID}, left)

	// The periodic job is scheduled by River (on start, then hourly), so
	// operators see it in the UI.
	require.Eventually(t, func() bool {
		var k int
		_ = e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'subscription_cleanup' AND state = 'completed'`).Scan(&k)
		return k >= 1
	}, waitBudget, 100*time.Millisecond)
}

// setupVia starts the service with its database connections through proxy.
func setupVia(t testing.TB, proxy *tcpProxy, extra map[string]string) *env {
	t.Helper()
	db := testdb.New(t)
	return setupOn(t, db, proxy.via(db), extra, wiring.Options{})
}

var apiOnly = wiring.Options{NoWorkers: true}

// freeAddr finds a loopback port nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestLogsKeepSecretsOut drives every path that logs (requests, pushes that
// fail, are gone or succeed, jobs) at debug level, then looks for tokens,
// keys and endpoints in the log.
func TestLogsKeepSecretsOut(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"LOG_LEVEL": "debug"})
	e.station("st-1", "owner-1", "1")
	tok := driverToken(t, "driver-1")
	ok, broken, gone := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	e.Push.Respond(broken, pushservice.Response{Status: http.StatusBadRequest, Body: "bad things"})
	e.Push.Respond(gone, pushservice.Response{Status: http.StatusGone})
	for _, d := range []*pushservice.Device{ok, broken, gone} {
		e.subscribe(tok, d, "client")
	}
	e.call("POST", api+"/test", tok, nil)
	e.Push.Respond(gone, pushservice.Response{Status: http.StatusGone})
	e.subscribe(tok, gone, "client")
	r := e.call("POST", chargingAPI+"/start", tok, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status)
	e.Push.WaitFor(t, ok, 2, waitBudget)
	e.idle()
	e.call("POST", api+"/subscribe", "Bearer-less-"+tok, nil)

	logs := e.Logs.String()
	require.Contains(t, logs, `"job_id"`, "worker lines carry the job")
	require.Contains(t, logs, "push failed", "failures are logged")
	for _, d := range []*pushservice.Device{ok, broken, gone} {
		path := strings.TrimPrefix(d.Endpoint, e.Push.URL)
		require.NotContains(t, logs, path, "no endpoint")
		require.NotContains(t, logs, d.P256dh)
		require.NotContains(t, logs, d.Auth)
	}
	require.NotContains(t, logs, tok, "no token")
	require.NotContains(t, logs, e.Svc.CurrentKey().PrivateKey, "no VAPID private key")
}
