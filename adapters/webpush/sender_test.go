package webpush_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

const subject = "mailto:ops@example.com"

// maxPayload is the largest plaintext that fits the 3000-byte record.
const maxPayload = webpush.MaxRecordSize - 103

// setup is one VAPID key pair, a push service that insists on it, and a
// sender using it.
type setup struct {
	keys   domain.VAPIDKeys
	srv    *pushservice.Server
	sender *webpush.Sender
}

func newSetup(tb testing.TB, cfg webpush.Config) setup {
	tb.Helper()
	keys, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	cfg.Keys = oneKey(tb, keys)
	cfg.AllowLoopback = true // the push service is on loopback
	if cfg.Subject == "" {
		cfg.Subject = subject
	}
	return setup{
		keys:   keys,
		srv:    pushservice.New(tb, pushservice.WithVAPIDPublicKey(keys.PublicKey)),
		sender: webpush.NewSender(cfg),
	}
}

// device registers a device on the push service and returns it with the
// subscription a browser would have handed to evpush.
func (s setup) device(tb testing.TB) (*pushservice.Device, domain.Subscription) {
	tb.Helper()
	d := s.srv.NewDevice()
	return d, subscriptionOf(tb, d.Endpoint, d.P256dh, d.Auth)
}

func subscriptionOf(tb testing.TB, endpoint, p256dh, auth string) domain.Subscription {
	tb.Helper()
	p, ok := domain.DecodeBase64(p256dh)
	require.True(tb, ok)
	a, ok := domain.DecodeBase64(auth)
	require.True(tb, ok)
	return domain.Subscription{
		ID: "sub-1", UserID: "user-1", UserType: domain.UserTypeClient,
		Endpoint: endpoint, P256dh: p, Auth: a,
	}
}

func sessionNotification() domain.Notification {
	return domain.Notification{
		Title:              "Charging started",
		Body:               "Station 12, connector 2",
		Icon:               domain.DefaultIcon,
		Badge:              domain.DefaultBadge,
		Tag:                "session-abc",
		RequireInteraction: true,
		Type:               "charging_started",
		URL:                "/sessions/abc",
		Data:               map[string]any{"session_id": "abc", "station_id": "12", "connector_id": float64(2)},
		TTL:                3600 * time.Second,
		Urgency:            domain.UrgencyHigh,
		Topic:              "session-abc",
	}
}

// sized returns a notification whose payload is exactly n bytes.
func sized(tb testing.TB, n int) domain.Notification {
	tb.Helper()
	note := sessionNotification()
	note.Body = ""
	p, err := webpush.Payload(note)
	require.NoError(tb, err)
	require.Less(tb, len(p), n)
	note.Body = strings.Repeat("x", n-len(p))
	p, err = webpush.Payload(note)
	require.NoError(tb, err)
	require.Len(tb, p, n)
	return note
}

func TestSendDelivers(t *testing.T) {
	t.Parallel()
	s := newSetup(t, webpush.Config{})
	d, sub := s.device(t)
	note := sessionNotification()

	res, err := s.sender.Send(context.Background(), sub, note)
	require.NoError(t, err)
	require.Equal(t, domain.OutcomeDelivered, res.Outcome)
	require.Equal(t, http.StatusCreated, res.StatusCode)
	require.Empty(t, res.Reason)
	require.Zero(t, res.RetryAfter)

	require.Empty(t, s.srv.Errors())
	msgs := s.srv.Messages(d)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "3600", m.TTL)
	require.Equal(t, "high", m.Urgency)
	require.Equal(t, "session-abc", m.Topic)
	require.Equal(t, subject, m.Claims["sub"])
	require.Equal(t, s.srv.URL, m.Claims["aud"])
	exp, ok := m.Claims["exp"].(float64)
	require.True(t, ok, "exp claim %v", m.Claims["exp"])
	require.Greater(t, int64(exp), time.Now().Unix())
	require.LessOrEqual(t, int64(exp), time.Now().Add(24*time.Hour).Unix(), "Apple refuses exp over 24h")

	var got map[string]any
	require.NoError(t, json.Unmarshal(m.Payload, &got))
	require.Equal(t, "Charging started", got["title"])
	require.Equal(t, "Station 12, connector 2", got["body"])
	require.Equal(t, "session-abc", got["tag"])
	require.Equal(t, true, got["requireInteraction"])
	require.Equal(t, domain.DefaultIcon, got["icon"])
	require.Equal(t, domain.DefaultBadge, got["badge"])
	require.NotContains(t, got, "actions", "evpush sends no buttons")
	require.Equal(t, map[string]any{
		"type": "charging_started", "url": "/sessions/abc",
		"session_id": "abc", "station_id": "12", "connector_id": float64(2),
	}, got["data"])

	// The caller's Data map is left alone.
	require.Equal(t, map[string]any{"session_id": "abc", "station_id": "12", "connector_id": float64(2)}, note.Data)
}

func TestSendSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subject, want string
	}{
		{"mailto:ops@example.com", "mailto:ops@example.com"},
		{"ops@example.com", "mailto:ops@example.com"},
		{"https://evpower.example/contact", "https://evpower.example/contact"},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, webpush.Config{Subject: tt.subject})
			d, sub := s.device(t)
			res, err := s.sender.Send(context.Background(), sub, sessionNotification())
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeDelivered, res.Outcome)
			msgs := s.srv.Messages(d)
			require.Len(t, msgs, 1)
			require.Equal(t, tt.want, msgs[0].Claims["sub"])
			require.NotContains(t, msgs[0].Claims["sub"], "mailto:mailto:")
		})
	}
}

func TestSendTTLAlwaysPositive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ttl  time.Duration
		want string // "" means any positive value
	}{
		{"zero", 0, ""},
		{"sub-second", 500 * time.Millisecond, ""},
		{"negative", -time.Minute, ""},
		{"five minutes", 5 * time.Minute, "300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, webpush.Config{})
			d, sub := s.device(t)
			note := sessionNotification()
			note.TTL = tt.ttl
			res, err := s.sender.Send(context.Background(), sub, note)
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeDelivered, res.Outcome)
			msgs := s.srv.Messages(d)
			require.Len(t, msgs, 1)
			ttl, err := strconv.Atoi(msgs[0].TTL)
			require.NoError(t, err)
			require.Positive(t, ttl)
			if tt.want != "" {
				require.Equal(t, tt.want, msgs[0].TTL)
			}
		})
	}
}

func TestSendOmitsEmptyUrgencyAndTopic(t *testing.T) {
	t.Parallel()
	s := newSetup(t, webpush.Config{})
	d, sub := s.device(t)
	note := sessionNotification()
	note.Urgency, note.Topic = "", ""
	res, err := s.sender.Send(context.Background(), sub, note)
	require.NoError(t, err)
	require.Equal(t, domain.OutcomeDelivered, res.Outcome)
	msgs := s.srv.Messages(d)
	require.Len(t, msgs, 1)
	require.Empty(t, msgs[0].Urgency)
	require.Empty(t, msgs[0].Topic)
}

// recorder is a push service of our own that keeps the raw requests, for
// what pushservice does not expose (the body size). It still verifies VAPID
// and decrypts with pushservice's exported functions.
type recorder struct {
	URL   string
	priv  *ecdh.PrivateKey
	auth  []byte
	mu    sync.Mutex
	sizes []int
	plain [][]byte
	errs  []string
}

func newRecorder(tb testing.TB) *recorder {
	tb.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(tb, err)
	r := &recorder{priv: priv, auth: make([]byte, 16)}
	_, _ = rand.Read(r.auth)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sizes = append(r.sizes, len(body))
		if err != nil {
			r.errs = append(r.errs, err.Error())
		}
		if _, _, err := pushservice.VerifyVAPID(req.Header.Get("Authorization"), r.URL, time.Now()); err != nil {
			r.errs = append(r.errs, err.Error())
		}
		p, err := pushservice.Decrypt(r.priv, r.auth, body)
		if err != nil {
			r.errs = append(r.errs, err.Error())
		}
		r.plain = append(r.plain, p)
		w.WriteHeader(http.StatusCreated)
	}))
	tb.Cleanup(ts.Close)
	r.URL = ts.URL
	return r
}

func (r *recorder) subscription() domain.Subscription {
	return domain.Subscription{ID: "sub-1", Endpoint: r.URL + "/push/dev", P256dh: r.priv.PublicKey().Bytes(), Auth: r.auth}
}

func (r *recorder) snapshot() (sizes []int, plain [][]byte, errs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.sizes...), append([][]byte(nil), r.plain...), append([]string(nil), r.errs...)
}

func TestSendBodySize(t *testing.T) {
	t.Parallel()
	keys, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	sender := webpush.NewSender(webpush.Config{AllowLoopback: true, Keys: oneKey(t, keys), Subject: subject})

	// webpush-go pads to the record size: the sender picks the smallest of
	// 1024, 2048 and 3000 bytes that holds the payload plus 103 bytes.
	tests := []struct{ payload, body int }{
		{300, 1024}, {1024 - 103, 1024}, {1024 - 102, 2048}, {2048 - 103, 2048}, {2000, 3000}, {maxPayload, 3000},
	}
	for _, tt := range tests {
		n := tt.payload
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t)
			note := sized(t, n)
			res, err := sender.Send(context.Background(), rec.subscription(), note)
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeDelivered, res.Outcome)
			sizes, plain, errs := rec.snapshot()
			require.Empty(t, errs)
			require.Len(t, sizes, 1)
			require.LessOrEqual(t, sizes[0], webpush.MaxRecordSize)
			require.Equal(t, tt.body, sizes[0])
			want, err := webpush.Payload(note)
			require.NoError(t, err)
			require.Equal(t, want, plain[0])
		})
	}
}

func TestSendPayloadTooLarge(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxPayload + 1, 4000, 10000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, webpush.Config{})
			_, sub := s.device(t)
			res, err := s.sender.Send(context.Background(), sub, sized(t, n))
			require.Error(t, err)
			require.Equal(t, domain.OutcomeRejected, res.Outcome)
			require.Zero(t, res.StatusCode)
			require.Zero(t, s.srv.Count(), "nothing may be sent")
		})
	}

	t.Run("largest that fits reaches the device", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, webpush.Config{})
		d, sub := s.device(t)
		note := sized(t, maxPayload)
		res, err := s.sender.Send(context.Background(), sub, note)
		require.NoError(t, err)
		require.Equal(t, domain.OutcomeDelivered, res.Outcome)
		msgs := s.srv.Messages(d)
		require.Len(t, msgs, 1)
		want, err := webpush.Payload(note)
		require.NoError(t, err)
		require.Equal(t, want, msgs[0].Payload)
	})
}

func TestSendScriptedAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		resp       pushservice.Response
		outcome    domain.Outcome
		retryAfter time.Duration
		reason     string // substring of Reason
	}{
		{"201", pushservice.Response{Status: 201}, domain.OutcomeDelivered, 0, ""},
		{"202", pushservice.Response{Status: 202}, domain.OutcomeDelivered, 0, ""},
		{"410", pushservice.Response{Status: 410, Body: "unsubscribed"}, domain.OutcomeGone, 0, "unsubscribed"},
		{"404", pushservice.Response{Status: 404}, domain.OutcomeGone, 0, ""},
		{"429 Retry-After", pushservice.Response{Status: 429, Header: map[string]string{"Retry-After": "7"}}, domain.OutcomeRateLimited, 7 * time.Second, ""},
		{"429 without Retry-After", pushservice.Response{Status: 429}, domain.OutcomeRateLimited, 0, ""},
		{"500", pushservice.Response{Status: 500}, domain.OutcomeTransient, 0, ""},
		{"502", pushservice.Response{Status: 502}, domain.OutcomeTransient, 0, ""},
		{"503 Retry-After", pushservice.Response{Status: 503, Header: map[string]string{"Retry-After": "120"}}, domain.OutcomeTransient, 2 * time.Minute, ""},
		{"400 BadJwtToken", pushservice.Response{Status: 400, Body: `{"reason":"BadJwtToken"}`}, domain.OutcomeRejected, 0, "BadJwtToken"},
		{"403", pushservice.Response{Status: 403, Body: "VAPID mismatch"}, domain.OutcomeRejected, 0, "VAPID mismatch"},
		{"413", pushservice.Response{Status: 413}, domain.OutcomeRejected, 0, ""},
		{"WNS 406 appthrottled", pushservice.Response{Status: 406, Header: map[string]string{"X-WNS-Status": "appthrottled"}}, domain.OutcomeRateLimited, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, webpush.Config{})
			d, sub := s.device(t)
			s.srv.Respond(d, tt.resp)
			res, err := s.sender.Send(context.Background(), sub, sessionNotification())
			require.NoError(t, err, "an HTTP answer is not an error")
			require.Equal(t, tt.outcome, res.Outcome, res.Outcome.String())
			require.Equal(t, tt.resp.Status, res.StatusCode)
			require.Equal(t, tt.retryAfter, res.RetryAfter)
			require.Contains(t, res.Reason, tt.reason)
			require.NotContains(t, res.Reason, d.ID, "never the endpoint")
			require.Empty(t, s.srv.Errors())
			require.Len(t, s.srv.Messages(d), 1)
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			var targetHits atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				targetHits.Add(1)
				w.WriteHeader(http.StatusCreated)
			}))
			t.Cleanup(target.Close)
			var redirHits atomic.Int32
			redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				redirHits.Add(1)
				w.Header().Set("Location", target.URL+"/internal")
				w.WriteHeader(status)
			}))
			t.Cleanup(redir.Close)

			keys, err := domain.GenerateVAPIDKeys()
			require.NoError(t, err)
			sender := webpush.NewSender(webpush.Config{AllowLoopback: true, Keys: oneKey(t, keys), Subject: subject})
			rec := newRecorder(t) // only for a valid key pair
			sub := rec.subscription()
			sub.Endpoint = redir.URL + "/push/dev"

			res, err := sender.Send(context.Background(), sub, sessionNotification())
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeRejected, res.Outcome)
			require.Equal(t, status, res.StatusCode)
			require.EqualValues(t, 1, redirHits.Load())
			require.Zero(t, targetHits.Load(), "redirect target must never be hit")
		})
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	s := newSetup(t, webpush.Config{Timeout: 200 * time.Millisecond})
	d, sub := s.device(t)
	s.srv.Respond(d, pushservice.Response{Delay: time.Minute})

	start := time.Now()
	res, err := s.sender.Send(context.Background(), sub, sessionNotification())
	require.Less(t, time.Since(start), 30*time.Second, "gave up long before the push service answered")
	require.Error(t, err)
	require.Equal(t, domain.OutcomeTransient, res.Outcome)
	require.Zero(t, res.StatusCode)
	require.NotContains(t, err.Error(), "/push/"+d.ID)
	require.NotContains(t, err.Error(), d.ID)
	require.NotContains(t, res.Reason, d.ID)
}

func TestSendContextCancelled(t *testing.T) {
	t.Parallel()
	s := newSetup(t, webpush.Config{})
	d, sub := s.device(t)
	s.srv.Respond(d, pushservice.Response{Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := s.sender.Send(ctx, sub, sessionNotification())
	require.Error(t, err)
	require.Equal(t, domain.OutcomeTransient, res.Outcome)
	require.NotContains(t, err.Error(), d.ID)
}

func TestSendClosedPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	s := newSetup(t, webpush.Config{Timeout: 2 * time.Second})
	_, sub := s.device(t)
	sub.Endpoint = "http://" + addr + "/push/secret-device-id"
	res, err := s.sender.Send(context.Background(), sub, sessionNotification())
	require.Error(t, err)
	require.Equal(t, domain.OutcomeTransient, res.Outcome)
	require.Zero(t, res.StatusCode)
	require.NotContains(t, err.Error(), "secret-device-id")
	require.NotContains(t, res.Reason, "secret-device-id")
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	s := newSetup(t, webpush.Config{})
	d, sub := s.device(t)
	note := sessionNotification()

	const n = 50
	var wg sync.WaitGroup
	results := make([]domain.PushResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.sender.Send(context.Background(), sub, note)
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, domain.OutcomeDelivered, results[i].Outcome)
	}
	require.Empty(t, s.srv.Errors())
	msgs := s.srv.Messages(d)
	require.Len(t, msgs, n)
	want, err := webpush.Payload(note)
	require.NoError(t, err)
	for _, m := range msgs {
		require.Equal(t, want, m.Payload)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		reason     string
		outcome    domain.Outcome
		retryAfter time.Duration
		wantReason string
	}{
		{"200", 200, nil, "", domain.OutcomeDelivered, 0, ""},
		{"201 drops reason and Retry-After", 201, hdr("Retry-After", "5"), "ok", domain.OutcomeDelivered, 0, ""},
		{"204", 204, nil, "", domain.OutcomeDelivered, 0, ""},
		{"404", 404, nil, "gone", domain.OutcomeGone, 0, "gone"},
		{"410", 410, nil, "", domain.OutcomeGone, 0, ""},
		{"429", 429, hdr("Retry-After", "7"), "", domain.OutcomeRateLimited, 7 * time.Second, ""},
		{"429 date", 429, hdr("Retry-After", now.Add(time.Minute).Format(http.TimeFormat)), "", domain.OutcomeRateLimited, time.Minute, ""},
		{"WNS 406 appthrottled", 406, hdr("X-WNS-Status", "appthrottled"), "", domain.OutcomeRateLimited, 0, ""},
		{"WNS 406 AppThrottled", 406, hdr("X-WNS-Status", "AppThrottled"), "", domain.OutcomeRateLimited, 0, ""},
		{"plain 406", 406, nil, "", domain.OutcomeRejected, 0, ""},
		{"406 other WNS status", 406, hdr("X-WNS-Status", "dropped"), "", domain.OutcomeRejected, 0, ""},
		{"408", 408, nil, "", domain.OutcomeTransient, 0, ""},
		{"500", 500, nil, "", domain.OutcomeTransient, 0, ""},
		{"502", 502, nil, "", domain.OutcomeTransient, 0, ""},
		{"503 Retry-After", 503, hdr("Retry-After", "30"), "", domain.OutcomeTransient, 30 * time.Second, ""},
		{"504", 504, nil, "", domain.OutcomeTransient, 0, ""},
		{"400", 400, nil, "BadJwtToken", domain.OutcomeRejected, 0, "BadJwtToken"},
		{"401", 401, nil, "", domain.OutcomeRejected, 0, ""},
		{"403", 403, nil, "", domain.OutcomeRejected, 0, ""},
		{"413", 413, nil, "", domain.OutcomeRejected, 0, ""},
		{"301", 301, hdr("Location", "http://10.0.0.1/"), "", domain.OutcomeRejected, 0, ""},
		{"302", 302, nil, "", domain.OutcomeRejected, 0, ""},
		{"bad Retry-After ignored", 429, hdr("Retry-After", "soon"), "", domain.OutcomeRateLimited, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := webpush.Classify(tt.status, h, tt.reason, now)
			require.Equal(t, domain.PushResult{
				Outcome: tt.outcome, StatusCode: tt.status, RetryAfter: tt.retryAfter, Reason: tt.wantReason,
			}, got)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"seconds", "120", 120 * time.Second, true},
		{"spaces", " 5 ", 5 * time.Second, true},
		{"zero", "0", 0, true},
		{"negative", "-1", 0, false},
		{"text", "abc", 0, false},
		{"empty", "", 0, false},
		{"blank", "   ", 0, false},
		{"fraction", "1.5", 0, false},
		{"date ahead", now.Add(30 * time.Second).UTC().Format(http.TimeFormat), 30 * time.Second, true},
		{"date past", now.Add(-time.Hour).UTC().Format(http.TimeFormat), 0, true},
		{"RFC 850 date", now.Add(10 * time.Second).UTC().Format(time.RFC850), 10 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := webpush.ParseRetryAfter(tt.in, now)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}

	for _, huge := range []string{"9223372036854775807", "99999999999999999999", "100000000000", strconv.FormatInt(int64(^uint64(0)>>1)/1e9+1, 10)} {
		t.Run("huge "+huge, func(t *testing.T) {
			t.Parallel()
			got, ok := webpush.ParseRetryAfter(huge, now)
			require.True(t, ok)
			require.Positive(t, got, "must not overflow")
			require.GreaterOrEqual(t, got, 24*time.Hour)
		})
	}
}

func TestPayloadShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    domain.Notification
		want string
	}{
		{
			"minimal",
			domain.Notification{Title: "T", Body: "B"},
			`{"title":"T","body":"B","requireInteraction":false,"data":{"type":"","url":""}}`,
		},
		{
			"type and url win over data",
			domain.Notification{Title: "T", Body: "B", Type: "test", URL: "/", Data: map[string]any{"type": "x", "url": "y", "k": 1}},
			`{"title":"T","body":"B","requireInteraction":false,"data":{"k":1,"type":"test","url":"/"}}`,
		},
		{
			"test notification",
			domain.Notification{
				Title: "EvPower: test notification", Body: "Push notifications work on this device.",
				Icon: domain.DefaultIcon, Badge: domain.DefaultBadge, Tag: "evpower-test", Type: "test", URL: "/",
			},
			`{"title":"EvPower: test notification","body":"Push notifications work on this device.","icon":"/logo-192.png","badge":"/logo-96.png","tag":"evpower-test","requireInteraction":false,"data":{"type":"test","url":"/"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := webpush.Payload(tt.n)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(p))
		})
	}

	t.Run("renotify and timestamp", func(t *testing.T) {
		t.Parallel()
		at := time.Date(2025, 3, 14, 15, 9, 26, 535_897_932, time.UTC)
		p, err := webpush.Payload(domain.Notification{Title: "T", Body: "B", Tag: "session-abc", Renotify: true, Timestamp: at})
		require.NoError(t, err)
		require.JSONEq(t, `{"title":"T","body":"B","tag":"session-abc","requireInteraction":false,`+
			`"renotify":true,"timestamp":1741964966535,"data":{"type":"","url":""}}`, string(p))
		// A JSON integer of milliseconds, as the Notifications API reads it.
		require.Contains(t, string(p), `"timestamp":1741964966535,`)
	})

	t.Run("renotify and timestamp omitted when unset", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			n    domain.Notification
		}{
			{"unset", domain.Notification{Title: "T", Tag: "session-abc"}},
			{"renotify without a tag", domain.Notification{Title: "T", Renotify: true}},
			{"timestamp at the epoch", domain.Notification{Title: "T", Timestamp: time.UnixMilli(0)}},
			{"timestamp before the epoch", domain.Notification{Title: "T", Timestamp: time.Unix(-1, 0)}},
		}
		for _, tt := range tests {
			p, err := webpush.Payload(tt.n)
			require.NoError(t, err, tt.name)
			var got map[string]any
			require.NoError(t, json.Unmarshal(p, &got), tt.name)
			require.NotContains(t, got, "renotify", tt.name)
			require.NotContains(t, got, "timestamp", tt.name)
		}
	})

	t.Run("renotify and timestamp reach the device", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, webpush.Config{})
		d, sub := s.device(t)
		n := sessionNotification()
		n.Renotify = true
		n.Timestamp = time.UnixMilli(1741964966535)
		res, err := s.sender.Send(context.Background(), sub, n)
		require.NoError(t, err)
		require.Equal(t, domain.OutcomeDelivered, res.Outcome)
		msgs := s.srv.Messages(d)
		require.Len(t, msgs, 1)
		var got map[string]any
		require.NoError(t, json.Unmarshal(msgs[0].Payload, &got))
		require.Equal(t, true, got["renotify"])
		require.Equal(t, float64(1741964966535), got["timestamp"])
		require.Equal(t, "session-abc", got["tag"])
	})

	t.Run("fresh slice each call", func(t *testing.T) {
		t.Parallel()
		n := sessionNotification()
		a, err := webpush.Payload(n)
		require.NoError(t, err)
		b, err := webpush.Payload(n)
		require.NoError(t, err)
		require.Equal(t, a, b)
		a[0] = 'X'
		require.NotEqual(t, a, b)
	})

	t.Run("unencodable data", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, webpush.Config{})
		_, sub := s.device(t)
		n := sessionNotification()
		n.Data = map[string]any{"bad": make(chan int)}
		_, err := webpush.Payload(n)
		require.Error(t, err)
		res, err := s.sender.Send(context.Background(), sub, n)
		require.Error(t, err)
		require.Equal(t, domain.OutcomeRejected, res.Outcome)
		require.Zero(t, s.srv.Count())
	})
}

// TestLargestUserMessageFits: the largest user_notifications the domain
// accepts (200 + 1,000 Cyrillic characters; quotes, "<" and U+2028 that the
// encoder escapes; the longest tag and URL) still fit Firefox for Android's
// record and arrive.
func TestLargestUserMessageFits(t *testing.T) {
	t.Parallel()
	quotes := func(n int) string { return strings.Repeat(`"`, n) }
	for _, tt := range []struct{ name, title, body, url, tag string }{
		{"cyrillic", strings.Repeat("ж", domain.MaxTitleChars), strings.Repeat("ж", domain.MaxBodyChars),
			"/" + strings.Repeat("p", 255), strings.Repeat("t", domain.MaxTagLength)},
		{"markup", strings.Repeat("<", domain.MaxTitleChars), strings.Repeat("&", domain.MaxBodyChars),
			"/" + strings.Repeat("p", 255), strings.Repeat(">", domain.MaxTagLength)},
		{"quotes everywhere, at the budget", quotes(200), quotes(1000), "/p" + quotes(110), quotes(64)},
		{"line separators", strings.Repeat("\u2028", 200), strings.Repeat("\u2029", 200), "/p", quotes(64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := domain.UserMessage{
				UserID: "u", UserType: domain.UserTypeClient,
				Title: map[string]string{"ru": tt.title}, Body: map[string]string{"ru": tt.body},
				URL: tt.url, Tag: tt.tag, TTL: domain.MaxUserMessageTTL, Urgency: domain.UrgencyHigh, OccurredAt: time.Now(),
			}
			require.NoError(t, m.Validate())
			n := m.Notification("ru", "ru")
			p, err := webpush.Payload(n)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p), webpush.MaxRecordSize-103)

			s := newSetup(t, webpush.Config{})
			d, sub := s.device(t)
			res, err := s.sender.Send(context.Background(), sub, n)
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeDelivered, res.Outcome)
			got := s.srv.WaitFor(t, d, 1, 20*time.Second)[0]
			require.Empty(t, got.Err)
			require.JSONEq(t, string(p), string(got.Payload))
		})
	}

	// One byte over the budget is refused by the domain, naming the field.
	m := domain.UserMessage{UserID: "u", UserType: domain.UserTypeClient, TTL: time.Hour, Urgency: domain.UrgencyNormal,
		Title: map[string]string{"ru": quotes(200)}, Body: map[string]string{"ru": quotes(1000)}, URL: "/pp" + quotes(110), Tag: quotes(64)}
	require.ErrorContains(t, m.Validate(), "body: title, body, url and tag take 2751 bytes")
}

// TestSendKeepsAConnectionPerConcurrentSend: with Concurrency sends in
// flight at once, as many connections stay open for the next round; fewer
// idle connections than workers would redial under steady load.
func TestSendKeepsAConnectionPerConcurrentSend(t *testing.T) {
	t.Parallel()
	const n = 2 * webpush.DefaultConcurrency
	var (
		mu      sync.Mutex
		dialled int
		arrived = make(chan struct{}, n)
		release = make(chan struct{})
	)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		arrived <- struct{}{}
		<-release // every request holds its connection until all n are in
		w.WriteHeader(http.StatusCreated)
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			dialled++
			mu.Unlock()
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	r := newRecorder(t)
	sub := r.subscription()
	sub.Endpoint = ts.URL + "/push/dev"
	keys, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	sender := webpush.NewSender(webpush.Config{Keys: oneKey(t, keys), Subject: subject, AllowLoopback: true, Concurrency: n})

	var dialledBefore int
	for round := range 2 {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := sender.Send(context.Background(), sub, sessionNotification())
				assert.NoError(t, err)
				assert.Equal(t, domain.OutcomeDelivered, res.Outcome)
			})
		}
		for range n {
			<-arrived
		}
		mu.Lock()
		got := dialled - dialledBefore
		dialledBefore = dialled
		mu.Unlock()
		for range n { // let them all answer before asserting
			release <- struct{}{}
		}
		wg.Wait()
		if round == 0 {
			require.Equal(t, n, got, "every send in flight on a connection of its own")
			continue
		}
		// The second round runs on the first's connections. A few may be
		// dialled anew: a connection goes back to the idle pool just after
		// its caller read the answer, so a send can overtake it. With the
		// default's idle limit, n/2 would be.
		require.Less(t, got, n/4, "connections dialled again for the second round")
	}
}
