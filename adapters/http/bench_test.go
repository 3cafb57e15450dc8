package http_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// fakeApp decides what to store by the real app's rule (validation and the
// token's role, domain.NewSubscriptionFor) and stores nothing.
type fakeApp struct{ policy domain.EndpointPolicy }

func (fakeApp) PublicKey() string { return "" }

func (f fakeApp) Subscribe(_ context.Context, p domain.Principal, in domain.SubscriptionInput) (app.SubscribeResult, error) {
	if _, err := domain.NewSubscriptionFor(p, in, f.policy); err != nil {
		return app.SubscribeResult{}, err
	}
	return app.SubscribeResult{SubscriptionID: "id", Created: true}, nil
}

func (fakeApp) Unsubscribe(context.Context, domain.Principal, string) (bool, error) { return true, nil }

func (fakeApp) SendTest(context.Context, domain.Principal) (app.TestReport, error) {
	return app.TestReport{}, nil
}

func (fakeApp) Devices(context.Context, domain.Principal) ([]domain.Subscription, error) {
	return nil, nil
}

func (fakeApp) RemoveDevice(context.Context, domain.Principal, string) error { return nil }

func (fakeApp) Preferences(context.Context, domain.Principal, string) (domain.Preferences, error) {
	return domain.Preferences{}, nil
}

func (fakeApp) SetPreferences(context.Context, domain.Principal, string, map[string]bool, map[string]bool) (domain.Preferences, error) {
	return domain.Preferences{}, nil
}

// BenchmarkSubscribeHandler is POST /subscribe through gin, the JWT
// middleware, body decoding and validation, without the database.
func BenchmarkSubscribeHandler(b *testing.B) {
	secret := []byte("bench-secret-0123456789abcdef0123")
	v, _ := auth.NewVerifier(auth.Config{Secret: secret})
	h := httpadapter.NewHandler(httpadapter.Config{
		Notifications: fakeApp{policy: domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}},
		Tokens:        v,
	})
	tok, _ := auth.Mint(secret, auth.Shape{}, "driver-42", domain.UserTypeClient, time.Hour, time.Now())
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	body := []byte(`{"subscription":{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","keys":{"p256dh":"` +
		base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()) + `","auth":"` +
		base64.RawURLEncoding.EncodeToString(make([]byte, 16)) + `"}},"user_type":"client"}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/notifications/subscribe", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
