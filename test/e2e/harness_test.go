package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/test/openapitest"
	"github.com/evpower/evpush/test/pushservice"
	"github.com/evpower/evpush/test/testdb"
)

const testSecret = "e2e-test-secret-0123456789abcdef"

// env is one running evpush on its own database, with a loopback push service.
type env struct {
	t     testing.TB
	URL   string
	DBURL string
	Svc   *wiring.Service
	Push  *pushservice.Server
	Logs  *syncBuffer // the service's log, at LOG_LEVEL (error unless set)
}

// setup starts the real wiring (config from an environment map, migrations,
// VAPID keys, HTTP server on :0). extra overrides environment variables.
func setup(t testing.TB, extra map[string]string) *env {
	t.Helper()
	return setupWith(t, extra, wiring.Options{})
}

// setupWith is setup with serve's options (e.g. API only).
func setupWith(t testing.TB, extra map[string]string, opts wiring.Options) *env {
	t.Helper()
	db := testdb.New(t)
	return setupOn(t, db, db, extra, opts)
}

// setupOn starts the service on serviceDB (e.g. through a proxy to dbURL).
func setupOn(t testing.TB, dbURL, serviceDB string, extra map[string]string, opts wiring.Options) *env {
	t.Helper()
	e := &env{t: t, DBURL: dbURL, Logs: &syncBuffer{}}
	vars := map[string]string{
		"DATABASE_URL":        serviceDB,
		"JWT_SECRET":          testSecret,
		"PUSH_ALLOW_LOOPBACK": "true",
		"VAPID_SUBJECT":       "mailto:ops@evpower.example",
		"LOG_LEVEL":           "error",
		// Tests call faster than any user; TestRateLimits turns these on.
		"RATE_LIMIT_TEST":      "off",
		"RATE_LIMIT_SUBSCRIBE": "off",
		"RATE_LIMIT_CHARGING":  "off",
		// Most tests drive the flow through the demo charging module;
		// reference_test.go runs without it.
		"REFERENCE_CHARGING": "true",
	}
	for k, v := range extra {
		vars[k] = v
	}
	e.Svc = startLogged(t, vars, opts, e.Logs)
	e.Push = pushservice.New(t, pushservice.WithVAPIDPublicKey(e.Svc.CurrentKey().PublicKey))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.URL = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Svc.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return e
}

// start assembles a Service from vars, closed when t ends.
func start(t testing.TB, vars map[string]string) *wiring.Service {
	t.Helper()
	return startWith(t, vars, wiring.Options{})
}

func startWith(t testing.TB, vars map[string]string, opts wiring.Options) *wiring.Service {
	t.Helper()
	return startLogged(t, vars, opts, io.Discard)
}

// startLogged is startWith logging JSON to w at the configured level.
func startLogged(t testing.TB, vars map[string]string, opts wiring.Options, w io.Writer) *wiring.Service {
	t.Helper()
	cfg, err := wiring.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
	svc, err := wiring.New(context.Background(), cfg, log, opts)
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	return svc
}

// token signs an HS256 token with the service's secret and these claims; exp
// defaults to one hour ahead.
func token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	require.NoError(t, err)
	return s
}

// driverToken is a token of the client role: the charging demo's start and
// stop take no other.
func driverToken(t testing.TB, user string) string {
	return token(t, jwt.MapClaims{"sub": user, "user_type": "client"})
}

// ownerToken is a token of a station owner.
func ownerToken(t testing.TB, user string) string {
	return token(t, jwt.MapClaims{"sub": user, "user_type": "owner"})
}

// rolelessToken names no role: refused unless JWT_REQUIRE_ROLE=false (or
// DEV_MODE), and then it may subscribe in either role.
func rolelessToken(t testing.TB, user string) string {
	return token(t, jwt.MapClaims{"sub": user})
}

// response is a decoded JSON answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call sends a request; body may be nil, a string (sent as is) or a value to
// marshal. An empty tok sends no Authorization header.
func (e *env) call(method, path, tok string, body any) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return e.do(req)
}

// do sends req and checks request and response against the OpenAPI document.
func (e *env) do(req *http.Request) response {
	e.t.Helper()
	var reqBody []byte
	if req.GetBody != nil {
		b, err := req.GetBody()
		require.NoError(e.t, err)
		reqBody, _ = io.ReadAll(b)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	contract(e.t).Check(e.t, req, reqBody, resp.StatusCode, resp.Header, raw)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &out.Body), "body: %s", raw)
	}
	return out
}

const api = "/api/v1/notifications"

var (
	contractOnce sync.Once
	contractV    *openapitest.Validator
)

// contract is the OpenAPI document the service serves, as a validator every
// exchange in this package goes through.
func contract(t testing.TB) *openapitest.Validator {
	contractOnce.Do(func() { contractV = openapitest.New(t, httpadapter.OpenAPI()) })
	return contractV
}

// subscribeBody is what the seed's PWA posts for a device.
func subscribeBody(d *pushservice.Device, userType string) map[string]any {
	return map[string]any{
		"subscription": map[string]any{
			"endpoint":       d.Endpoint,
			"expirationTime": nil,
			"keys":           map[string]any{"p256dh": d.P256dh, "auth": d.Auth},
		},
		"user_type": userType,
	}
}

// subscribe registers d for the user and returns the subscription id.
func (e *env) subscribe(tok string, d *pushservice.Device, userType string) string {
	e.t.Helper()
	r := e.call("POST", api+"/subscribe", tok, subscribeBody(d, userType))
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	id, _ := r.Body["subscription_id"].(string)
	require.NotEmpty(e.t, id)
	return id
}

// station inserts a station into the charging service's table.
func (e *env) station(id, owner, price string) {
	e.t.Helper()
	_, err := e.Svc.DB.Exec(`INSERT INTO stations (id, owner_id, price_per_kwh) VALUES ($1, $2, $3)`, id, owner, price)
	require.NoError(e.t, err)
}

// subscribeIn registers d in a role and language.
func (e *env) subscribeIn(tok string, d *pushservice.Device, userType, locale string) string {
	e.t.Helper()
	body := subscribeBody(d, userType)
	body["locale"] = locale
	r := e.call("POST", api+"/subscribe", tok, body)
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	return r.Body["subscription_id"].(string)
}

// waitBudget bounds every wait for an asynchronous outcome (a delivery, a
// job state, readiness). Waits return as soon as the condition holds, so the
// budget costs nothing when things work; it is generous because CI runs the
// whole suite in parallel on a loaded 2-core machine.
const waitBudget = 60 * time.Second

// eventState waits until the event job of this kind and session reaches a
// final state (or one of want) and returns its state and attempt.
func (e *env) eventState(kind, sessionID string, want ...string) (state string, attempt int) {
	e.t.Helper()
	final := append([]string{"completed", "cancelled", "discarded"}, want...)
	deadline := time.Now().Add(waitBudget)
	for {
		err := e.Svc.DB.QueryRow(`SELECT state, attempt FROM river_job
			WHERE kind = $1 AND args->>'session_id' = $2
			ORDER BY id DESC LIMIT 1`, kind, sessionID).Scan(&state, &attempt)
		if err == nil && slices.Contains(final, state) {
			return state, attempt
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s job for %s: state %q after %v (err %v)", kind, sessionID, state, waitBudget, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retried lists the subscriptions that have a push_delivery retry job.
func (e *env) retried() []string {
	e.t.Helper()
	rows, err := e.Svc.DB.Query(`SELECT args->>'subscription_id' FROM river_job WHERE kind = 'push_delivery' ORDER BY 1`)
	require.NoError(e.t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(e.t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(e.t, rows.Err())
	return ids
}

// jobState waits until the newest delivery (retry) job for subscription id reaches
// a final state (or one of want) and returns its state, attempt and errors.
func (e *env) jobState(subscriptionID string, want ...string) (state string, attempt int) {
	e.t.Helper()
	final := append([]string{"completed", "cancelled", "discarded"}, want...)
	deadline := time.Now().Add(waitBudget)
	for {
		err := e.Svc.DB.QueryRow(`SELECT state, attempt FROM river_job
			WHERE kind = 'push_delivery' AND args->>'subscription_id' = $1
			ORDER BY id DESC LIMIT 1`, subscriptionID).Scan(&state, &attempt)
		if err == nil && slices.Contains(final, state) {
			return state, attempt
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery job for %s: state %q after %v (err %v)", subscriptionID, state, waitBudget, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idle waits until no job is waiting or running: every event fanned out and
// every delivery finished.
func (e *env) idle() {
	e.t.Helper()
	deadline := time.Now().Add(waitBudget)
	for {
		var n int
		require.NoError(e.t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job
			WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n))
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d jobs still pending after %v", n, waitBudget)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// payload decodes a delivered message.
func payload(t testing.TB, m pushservice.Message) map[string]any {
	t.Helper()
	require.Empty(t, m.Err)
	var p map[string]any
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	return p
}
