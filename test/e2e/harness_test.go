package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/cmd/evpush/wiring"
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
}

// setup starts the real wiring (config from an environment map, migrations,
// VAPID keys, HTTP server on :0). extra overrides environment variables.
func setup(t testing.TB, extra map[string]string) *env {
	t.Helper()
	e := &env{t: t, DBURL: testdb.New(t)}
	vars := map[string]string{
		"DATABASE_URL":        e.DBURL,
		"JWT_SECRET":          testSecret,
		"PUSH_ALLOW_LOOPBACK": "true",
		"VAPID_SUBJECT":       "mailto:ops@evpower.example",
		"LOG_LEVEL":           "error",
	}
	for k, v := range extra {
		vars[k] = v
	}
	e.Svc = start(t, vars)
	e.Push = pushservice.New(t, pushservice.WithVAPIDPublicKey(e.Svc.Keys.PublicKey))
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
	cfg, err := wiring.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := wiring.New(context.Background(), cfg, log, wiring.Options{})
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

func userToken(t testing.TB, user string) string {
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

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &out.Body), "body: %s", raw)
	}
	return out
}

const api = "/api/v1/notifications"

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
