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
	// AllowLoopback lets 127.0.0.0/8 and ::1 through (tests, local development).
	AllowLoopback bool
}

// ErrAddressRefused is returned for a dial to a refused address.
type ErrAddressRefused struct{ Addr netip.Addr }

func (e *ErrAddressRefused) Error() string {
	return fmt.Sprintf("refusing to connect to %s: not a public address", e.Addr)
}

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT, RFC 6598

// Check reports whether ip may be dialled.
func (g AddressGuard) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if g.AllowLoopback {
			return nil
		}
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(), ip.IsUnspecified(), sharedAddressSpace.Contains(ip), !ip.IsValid():
		// Private ranges, link-local (169.254.169.254 is the cloud metadata
		// service), multicast and "this host".
	default:
		return nil
	}
	return &ErrAddressRefused{Addr: ip}
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
