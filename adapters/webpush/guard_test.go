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

// TestAddressGuard: only global unicast addresses are dialled. Each special
// range gets addresses inside it (its edges where they matter), refused with
// or without PUSH_ALLOW_LOOPBACK; the public neighbours listed in allowed sit
// just outside those edges.
func TestAddressGuard(t *testing.T) {
	t.Parallel()
	refused := []struct {
		name  string
		addrs []string
	}{
		{"this network 0.0.0.0/8", []string{"0.0.0.0", "0.1.2.3", "0.255.255.255"}},
		{"private 10.0.0.0/8", []string{"10.0.0.5", "10.255.255.255"}},
		{"carrier-grade NAT 100.64.0.0/10", []string{"100.64.0.1", "100.127.255.255"}},
		{"link-local 169.254.0.0/16 (cloud metadata)", []string{"169.254.169.254", "169.254.0.1"}},
		{"private 172.16.0.0/12", []string{"172.16.3.4", "172.31.255.255"}},
		{"IETF protocol assignments 192.0.0.0/24", []string{"192.0.0.1", "192.0.0.170", "192.0.0.255"}},
		{"documentation 192.0.2.0/24", []string{"192.0.2.1", "192.0.2.255"}},
		{"6to4 relay anycast 192.88.99.0/24", []string{"192.88.99.1"}},
		{"private 192.168.0.0/16", []string{"192.168.1.1", "192.168.255.255"}},
		{"benchmarking 198.18.0.0/15", []string{"198.18.0.1", "198.19.255.255"}},
		{"documentation 198.51.100.0/24", []string{"198.51.100.7"}},
		{"documentation 203.0.113.0/24", []string{"203.0.113.9"}},
		{"multicast 224.0.0.0/4", []string{"224.0.0.1", "239.255.255.250"}},
		{"reserved 240.0.0.0/4 and broadcast", []string{"240.0.0.1", "254.255.255.255", "255.255.255.255"}},
		{"IPv4-mapped, judged by the IPv4", []string{"::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:198.18.0.1",
			"::ffff:0.0.0.0", "::ffff:255.255.255.255", "::ffff:100.64.0.1"}},

		{"unspecified ::", []string{"::"}},
		{"IPv4-compatible ::/96", []string{"::10.0.0.1", "::8.8.8.8", "::127.0.0.1", "::ffff:ffff"}},
		{"NAT64 64:ff9b::/96", []string{"64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b::ffff:ffff"}},
		{"NAT64 local use 64:ff9b:1::/48", []string{"64:ff9b:1::a00:1", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"}},
		{"discard-only 100::/64", []string{"100::1"}},
		{"IETF protocol assignments 2001::/23", []string{"2001:2::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"Teredo 2001::/32", []string{"2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"documentation 2001:db8::/32", []string{"2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"6to4 2002::/16, whatever the IPv4 inside", []string{"2002:a00:1::1", "2002:808:808::1", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"documentation 3fff::/20", []string{"3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"unique local fc00::/7 (AWS metadata)", []string{"fd00:ec2::254", "fc00::1"}},
		{"link-local fe80::/10", []string{"fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"site-local fec0::/10", []string{"fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"multicast ff00::/8", []string{"ff02::1", "ff05::1:3"}},
		{"outside global unicast 2000::/3", []string{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "4000::1", "5f00::1", "100:0:0:1::1"}},
		{"zoned", []string{"fe80::1%eth0", "2a00:1450:4001:80b::200a%eth0", "::1%lo"}},
	}
	allowed := []string{
		"142.250.74.10", "17.253.144.10", "8.8.8.8", // public (FCM's, Apple's and Google DNS's kind)
		"1.0.0.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255", "169.255.0.0",
		"172.15.255.255", "172.32.0.0", "191.255.255.255", "192.0.1.0", "192.0.1.255", "192.0.3.0",
		"192.88.98.255", "192.88.100.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
		"198.51.99.255", "198.51.101.0", "203.0.112.255", "203.0.114.0", "223.255.255.255",
		"::ffff:142.250.74.10", // IPv4-mapped public

		"2a00:1450:4001:80b::200a", "2001:4860:4860::8888", // public
		"2001:200::1",                                          // just past 2001::/23
		"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", // around 2001:db8::/32
		"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::1", // around 2002::/16
		"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::", // around 3fff::/20
	}
	loopback := []string{"127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"}

	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			for _, addr := range r.addrs {
				for _, allowLoopback := range []bool{false, true} {
					err := webpush.AddressGuard{AllowLoopback: allowLoopback}.Check(netip.MustParseAddr(addr))
					var refusedErr *webpush.ErrAddressRefused
					require.ErrorAs(t, err, &refusedErr, "%s (loopback allowed: %v)", addr, allowLoopback)
				}
			}
		})
	}
	t.Run("public", func(t *testing.T) {
		t.Parallel()
		for _, addr := range allowed {
			for _, allowLoopback := range []bool{false, true} {
				require.NoError(t, webpush.AddressGuard{AllowLoopback: allowLoopback}.Check(netip.MustParseAddr(addr)), addr)
			}
		}
	})
	t.Run("loopback only with PUSH_ALLOW_LOOPBACK", func(t *testing.T) {
		t.Parallel()
		for _, addr := range loopback {
			require.Error(t, webpush.AddressGuard{}.Check(netip.MustParseAddr(addr)), addr)
			require.NoError(t, webpush.AddressGuard{AllowLoopback: true}.Check(netip.MustParseAddr(addr)), addr)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		require.Error(t, webpush.AddressGuard{AllowLoopback: true}.Check(netip.Addr{}))
	})
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
	sender := webpush.NewSender(webpush.Config{Keys: oneKey(t, keys), Subject: "mailto:ops@evpower.kg"}) // loopback not allowed
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
