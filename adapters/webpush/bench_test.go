package webpush_test

import (
	"context"
	"testing"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

func benchNotification() domain.Notification {
	return messages.Default().Event(domain.ChargingEvent{Kind: domain.EventChargingStarted,
		SessionID: "5b1c1c7e-0000-4000-8000-000000000000", StationID: "st-1", ConnectorID: 2, DriverID: "d"},
		domain.UserTypeClient, "ru")
}

// BenchmarkPayload renders the push message body (JSON).
func BenchmarkPayload(b *testing.B) {
	n := benchNotification()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webpush.Payload(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend is one delivery through the adapter (webpush-go: ECDH, HKDF,
// AES-GCM, an ES256 VAPID JWT) to a loopback push service that checks every
// request's headers and decrypts one in 100. Parallel, as the workers send.
func BenchmarkSend(b *testing.B) {
	keys, _ := domain.GenerateVAPIDKeys()
	push := pushservice.New(b, pushservice.WithVAPIDPublicKey(keys.PublicKey), pushservice.WithDecryptSample(100))
	d := push.NewDevice()
	p256dh, _ := domain.DecodeBase64(d.P256dh)
	auth, _ := domain.DecodeBase64(d.Auth)
	sub := domain.Subscription{ID: "s", Endpoint: d.Endpoint, P256dh: p256dh, Auth: auth}
	s := webpush.NewSender(webpush.Config{AllowLoopback: true, Keys: oneKey(b, keys), Subject: "mailto:ops@evpower.kg"})
	n := benchNotification()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := s.Send(context.Background(), sub, n)
			if err != nil || res.Outcome != domain.OutcomeDelivered {
				b.Errorf("send: %v %v", res, err)
				return
			}
		}
	})
}
