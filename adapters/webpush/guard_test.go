package webpush_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
)

func TestAddressGuard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr     string
		loopback bool
		ok       bool
	}{
		{"142.250.74.10", false, true}, // a public address (FCM's kind)
		{"2a00:1450:4001:80b::200a", false, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, true},
		{"::1", false, false},
		{"::1", true, true},
		{"10.0.0.5", true, false},
		{"172.16.3.4", true, false},
		{"192.168.1.1", true, false},
		{"169.254.169.254", true, false}, // cloud metadata
		{"100.64.0.1", true, false},      // carrier-grade NAT
		{"0.0.0.0", true, false},
		{"::", true, false},
		{"fd00:ec2::254", true, false}, // AWS IPv6 metadata
		{"fe80::1", true, false},
		{"224.0.0.1", true, false},
		{"::ffff:10.0.0.1", true, false}, // IPv4-mapped private
		{"::ffff:127.0.0.1", false, false},
	}
	for _, tt := range tests {
		err := webpush.AddressGuard{AllowLoopback: tt.loopback}.Check(netip.MustParseAddr(tt.addr))
		if tt.ok {
			require.NoError(t, err, tt.addr)
		} else {
			require.Error(t, err, tt.addr)
		}
	}
}

// TestSenderRefusesInternalAddressesAtConnect: whatever the endpoint's name,
// the address dialled is checked; nothing reaches the server.
func TestSenderRefusesInternalAddressesAtConnect(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	keys, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	sender := webpush.NewSender(webpush.Config{Keys: keys, Subject: "mailto:ops@evpower.kg"}) // loopback not allowed
	p256dh, _ := domain.DecodeBase64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
	auth, _ := domain.DecodeBase64("BTBZMqHH6r4Tts7J_aSIgg")
	for _, endpoint := range []string{srv.URL + "/push/x", "http://localhost:" + srv.URL[len("http://127.0.0.1:"):] + "/push/x"} {
		res, err := sender.Send(context.Background(), domain.Subscription{ID: "s", Endpoint: endpoint, P256dh: p256dh, Auth: auth},
			messages.Default().Test("en"))
		require.Error(t, err, endpoint)
		require.Equal(t, domain.OutcomeRejected, res.Outcome, "permanent: retrying cannot help")
		require.Contains(t, err.Error(), "refusing to connect")
	}
	require.Zero(t, hits.Load())
}
