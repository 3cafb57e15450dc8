package webpush

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// AddressGuard refuses connections to addresses no push service has. The
// endpoint's host was checked against the allowlist at subscribe time, but a
// permitted name can resolve (or be re-pointed) to an internal address: the
// guard checks the address actually dialled, after DNS.
type AddressGuard struct {
	// AllowLoopback lets 127.0.0.0/8 and ::1 through (tests, local
	// development), and nothing else.
	AllowLoopback bool
}

// ErrAddressRefused is returned for a dial to a refused address.
type ErrAddressRefused struct{ Addr netip.Addr }

func (e *ErrAddressRefused) Error() string {
	return fmt.Sprintf("refusing to connect to %s: not a public address", e.Addr)
}

// refused lists the special-purpose ranges (IANA's IPv4 and IPv6
// special-purpose registries) that IsGlobalUnicast and IsPrivate let
// through. None holds a push service, and several lead back inside: NAT64
// and 6to4 embed an IPv4 address (64:ff9b::a00:1 is 10.0.0.1 behind a NAT64
// gateway), Teredo and IPv4-compatible addresses tunnel to one. The IPv6
// entries outside 2000::/3 are also caught by globalUnicast6; they stay
// listed so that the list alone says what is refused.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; Linux dials 0.0.0.0 as loopback
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast, deprecated (RFC 7526)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, often lab-internal
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255 broadcast

	netip.MustParsePrefix("::/96"),          // IPv4-compatible, deprecated (RFC 4291)
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64, well-known prefix (RFC 6052)
	netip.MustParsePrefix("64:ff9b:1::/48"), // NAT64, local use (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/23"),      // IETF protocol assignments, Teredo 2001::/32 among them
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("2002::/16"),      // 6to4: refused whole rather than judged by the embedded IPv4
	netip.MustParsePrefix("3fff::/20"),      // documentation (RFC 9637)
	netip.MustParsePrefix("fec0::/10"),      // site-local, deprecated (RFC 3879)
}

// globalUnicast6 is the only IPv6 space IANA allocates as global unicast;
// everything outside it is reserved, special or local.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// Check reports whether ip may be dialled: only global unicast addresses, and
// loopback when AllowLoopback is set. An IPv4-mapped address (::ffff:a.b.c.d)
// is judged by its IPv4 address.
func (g AddressGuard) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	if ip.IsLoopback() && ip.Zone() == "" {
		if g.AllowLoopback {
			return nil
		}
		return &ErrAddressRefused{Addr: ip}
	}
	if !public(ip) {
		return &ErrAddressRefused{Addr: ip}
	}
	return nil
}

// public reports whether ip is a global unicast address outside every
// special-purpose range.
func public(ip netip.Addr) bool {
	// A zone scopes an address to one link; Prefix.Contains is false for a
	// zoned address, so it would slip past the table below.
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	// IsGlobalUnicast is false for loopback, link-local (169.254.169.254 is
	// the cloud metadata service), multicast, unspecified and broadcast.
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return false
	}
	for _, p := range refused {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// control runs after DNS resolution, just before connect.
func (g AddressGuard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: not an IP address", host)
	}
	return g.Check(ip)
}

// DialContext dials like net.Dialer, refusing what the guard refuses.
func (g AddressGuard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, address)
}
