package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/evpower/evpush/adapters/auth"
	"github.com/evpower/evpush/domain"
)

// BenchmarkVerify is the JWT check every authenticated request pays (HS256).
func BenchmarkVerify(b *testing.B) {
	secret := []byte("bench-secret-0123456789abcdef0123")
	v, err := auth.NewVerifier(auth.Config{Secret: secret, Leeway: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := auth.Mint(secret, auth.Shape{}, "driver-42", domain.UserTypeClient, time.Hour, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
