package http

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tracked is how many addresses have a bucket.
func (t *loginThrottle) tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// TestLoginThrottle drives the throttle on a clock of its own: ten failures,
// then one every six seconds; a full bucket is forgotten.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	th := newLoginThrottle(RateLimit{PerMinute: 10, Burst: 10})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	require.Zero(t, th.wait("a", now), "never failed")
	require.Zero(t, th.tracked(), "an address that never failed takes no memory")
	for i := range 10 {
		require.Zero(t, th.wait("a", now), "failure %d", i+1)
		th.fail("a", now)
	}
	require.Equal(t, 6*time.Second, th.wait("a", now), "one token comes back every 6 s")
	require.Zero(t, th.wait("b", now), "other addresses are not touched")

	now = now.Add(6 * time.Second)
	require.Zero(t, th.wait("a", now))
	th.fail("a", now)
	require.Equal(t, 6*time.Second, th.wait("a", now))

	// Failures that raced past wait leave a debt: the address waits for
	// every one of them.
	for range 5 {
		th.fail("a", now)
	}
	require.Equal(t, 36*time.Second, th.wait("a", now))

	// Once full again (a minute and more later), the bucket is dropped.
	now = now.Add(2 * time.Minute)
	require.Zero(t, th.wait("a", now))
	require.Zero(t, th.tracked())
}

// TestLoginThrottleIsBounded: past maxThrottled addresses, new ones share one
// bucket, so a guesser with many addresses cannot grow the map.
func TestLoginThrottleIsBounded(t *testing.T) {
	t.Parallel()
	th := newLoginThrottle(RateLimit{PerMinute: 1, Burst: 1})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxThrottled {
		th.fail("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	require.Equal(t, maxThrottled, th.tracked())
	require.Zero(t, th.wait("192.0.2.1", now), "the shared bucket is full")
	th.fail("192.0.2.1", now)
	require.Equal(t, maxThrottled, th.tracked())
	require.Positive(t, th.wait("192.0.2.2", now), "new addresses share the bucket")
}

func TestLoginThrottleZeroLimitIsTheDefault(t *testing.T) {
	t.Parallel()
	th := newLoginThrottle(RateLimit{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range DefaultOpsLoginLimit.Burst {
		th.fail("a", now)
	}
	require.Positive(t, th.wait("a", now))
}

func TestThrottleKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
		"":                     "",
	} {
		require.Equal(t, want, throttleKey(in), in)
	}
}
