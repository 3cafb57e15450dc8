package domain_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

// BenchmarkNewSubscription is subscribe's validation: base64 decoding, the
// P-256 point check and the endpoint policy.
func BenchmarkNewSubscription(b *testing.B) {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	in := domain.SubscriptionInput{
		UserID: "u1", UserType: "client",
		Endpoint: "https://fcm.googleapis.com/fcm/send/c1KrmpTuRm0:APA91bHcWa",
		P256dh:   base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(auth),
		Locale:   "ru",
	}
	policy := domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := domain.NewSubscription(in, policy); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventNotification renders one charging notification.
func BenchmarkEventNotification(b *testing.B) {
	ev := domain.ChargingEvent{Kind: domain.EventChargingCompleted, SessionID: "5b1c1c7e-0000-4000-8000-000000000000",
		StationID: "st-1", DriverID: "d", EnergyKWh: 12.5, Amount: 16663}
	b.ReportAllocs()
	for b.Loop() {
		_ = messages.Default().Event(ev, domain.UserTypeClient, "ru")
	}
}
