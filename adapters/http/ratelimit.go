package http

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/evpower/evpush/domain"
)

// RateLimit is a per-user token bucket: PerMinute tokens a minute, up to
// Burst at once. Zero PerMinute turns the limit off.
type RateLimit struct {
	PerMinute float64
	Burst     int
}

// limiter keeps one bucket per user. Buckets idle for long are dropped so the
// map stays as small as the set of active users. Limits are per process: with
// several instances behind a balancer a user gets each instance's allowance.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	*rate.Limiter
	seen time.Time
}

const bucketIdle = 10 * time.Minute

func newLimiter(l RateLimit) *limiter {
	if l.PerMinute <= 0 {
		return nil
	}
	return &limiter{limit: rate.Limit(l.PerMinute / 60), burst: max(l.Burst, 1), buckets: map[string]*bucket{}}
}

// reserve takes a token for key, or says how long until one is free.
func (l *limiter) reserve(key string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > bucketIdle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > bucketIdle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, found := l.buckets[key]
	if !found {
		b = &bucket{Limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request must not use up a future token
		return false, d
	}
	return true, 0
}

// rateLimit answers 429 with Retry-After when the caller is over the limit.
// It runs after authenticate, so the key is the user, not an address.
func (s *server) rateLimit(l *limiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if l == nil {
			c.Next()
			return
		}
		ok, wait := l.reserve(principal(c).UserID, time.Now())
		if !ok {
			writeError(c, s.log, &domain.RateLimitError{RetryAfter: wait,
				Msg: fmt.Sprintf("Too many requests; retry in %d s", max(int(math.Ceil(wait.Seconds())), 1))})
			return
		}
		c.Next()
	}
}
