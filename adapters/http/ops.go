package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/evpower/evpush/domain"
)

// Ops is the operators' surface: River UI and metrics behind credentials.
type Ops struct {
	Username, Password string
	// UI is River UI, built for the prefix UIPrefix.
	UI http.Handler
	// Metrics, when set, is served at /metrics behind the same credentials
	// (nil when METRICS_ADDR serves it on a listener of its own).
	Metrics http.Handler
	// LoginLimit bounds failed logins per client address; zero:
	// DefaultOpsLoginLimit. It cannot be turned off.
	LoginLimit RateLimit
}

// UIPrefix is where River UI is mounted.
const UIPrefix = "/riverui"

// Readiness reports each dependency's state: "ok", "disabled", or what is
// wrong. The service is ready when none is wrong.
type Readiness func(ctx context.Context) map[string]string

// HTTPObserver records HTTP traffic (metrics).
type HTTPObserver interface {
	ObserveHTTP(route, method string, status int, d time.Duration)
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the machine-readable contract served at /openapi.json.
func OpenAPI() []byte { return openAPI }

type healthBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, healthBody{Status: "ok"})
}

// readyz answers 503 while any dependency is wrong, so a load balancer sends
// traffic elsewhere; the process itself stays up and recovers by itself.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := s.ready(ctx)
	body := healthBody{Status: "ready", Checks: checks}
	status := http.StatusOK
	for _, v := range checks {
		if v != "ok" && v != "disabled" {
			body.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	if status != http.StatusOK {
		c.Header("Retry-After", "5")
	}
	c.JSON(status, body)
}

func (s *server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}

// DefaultOpsLoginLimit lets one client address fail the operators' login
// ten times in a row, then once every six seconds.
var DefaultOpsLoginLimit = RateLimit{PerMinute: 10, Burst: 10}

// setOpsHeaders keeps operator pages out of other sites' frames
// (clickjacking River UI's buttons) and out of every cache (job lists and
// metrics are internal).
func setOpsHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
}

// OpsHeaders sets the operator pages' headers on every answer of h (the
// metrics listener of METRICS_ADDR).
func OpsHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setOpsHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}

// withOpsHeaders sets the operator headers before gin sees the request:
// gin answers some requests itself, without middleware (the redirect of
// /metrics/ to /metrics).
func withOpsHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isOpsPath(r.URL.Path) {
			setOpsHeaders(w.Header())
		}
		h.ServeHTTP(w, r)
	})
}

// isOpsPath says whether path is River UI's or /metrics (with what gin
// redirects from, such as /metrics/).
func isOpsPath(path string) bool {
	for _, p := range [...]string{UIPrefix, "/metrics"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// keepOpsHeaders sets the operator headers (see withOpsHeaders) again as an
// answer under the operator paths starts: net/http's file server, which
// River UI serves its assets with, deletes Cache-Control on its error pages.
// It runs on the engine, so NoRoute and NoMethod answers pass through it too.
func keepOpsHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		if isOpsPath(c.Request.URL.Path) {
			c.Writer = &opsHeaderWriter{ResponseWriter: c.Writer}
		}
		c.Next()
	}
}

// opsHeaderWriter sets the operator headers as the answer starts.
type opsHeaderWriter struct{ gin.ResponseWriter }

func (w *opsHeaderWriter) WriteHeader(code int) {
	setOpsHeaders(w.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *opsHeaderWriter) WriteHeaderNow() {
	setOpsHeaders(w.Header())
	w.ResponseWriter.WriteHeaderNow()
}

func (w *opsHeaderWriter) Write(b []byte) (int, error) {
	if !w.Written() {
		setOpsHeaders(w.Header())
	}
	return w.ResponseWriter.Write(b)
}

func (w *opsHeaderWriter) WriteString(s string) (int, error) {
	if !w.Written() {
		setOpsHeaders(w.Header())
	}
	return w.ResponseWriter.WriteString(s)
}

// requireOps asks for the operators' credentials (HTTP Basic), and refuses
// an address that failed them too often with 429 and Retry-After.
//
// The address is gin's ClientIP, which NewHandler sets to trust no proxy:
// the TCP peer, never X-Forwarded-For, which a guesser could vary at will.
// Behind a reverse proxy every operator shares the proxy's address, and so
// its allowance.
//
// A throttled address is refused before its credentials are compared, even
// right ones: were the right password let through, the answer (200 or 429)
// would tell the guesser which guess was right, at any speed. Successful
// logins take nothing from the allowance, so River UI's many calls never
// throttle the operator using it.
func requireOps(log *slog.Logger, user, pass string, throttle *loginThrottle) gin.HandlerFunc {
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	return func(c *gin.Context) {
		addr := throttleKey(c.ClientIP())
		now := time.Now()
		if wait := throttle.wait(addr, now); wait > 0 {
			writeError(c, log, &domain.RateLimitError{RetryAfter: wait,
				Msg: fmt.Sprintf("Too many failed logins from this address; retry in %d s", max(int(math.Ceil(wait.Seconds())), 1))})
			return
		}
		u, p, ok := c.Request.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		// Compare hashes in constant time: no length or prefix leaks.
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			if ok { // no credentials is no guess: the browser's first request
				throttle.fail(addr, now)
			}
			writeError(c, log, opsAuthError{})
			return
		}
		c.Next()
	}
}

// throttleKey is the throttle's key for a client IP: an IPv4 address, or an
// IPv6 address's /64, since one host usually holds a whole /64 and could
// otherwise change address for each guess.
func throttleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// maxThrottled bounds the addresses tracked at once. Past it, new addresses
// share one bucket: a guesser with that many addresses slows down every new
// address, but memory stays bounded.
const maxThrottled = 10_000

// loginThrottle is a token bucket of failed logins per client address. Each
// failure takes a token; an address without one waits. A bucket that has
// filled up again is the same as none and is dropped, so only addresses that
// failed recently take memory.
type loginThrottle struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time
}

func newLoginThrottle(l RateLimit) *loginThrottle {
	if l.PerMinute <= 0 {
		l = DefaultOpsLoginLimit // the login is never unthrottled
	}
	t := &loginThrottle{limit: rate.Limit(l.PerMinute / 60), burst: max(l.Burst, 1), buckets: map[string]*rate.Limiter{}}
	t.overflow = rate.NewLimiter(t.limit, t.burst)
	return t
}

// bucket is addr's bucket, the shared one when addr is new and the map is
// full, or nil when addr has none and may get one.
func (t *loginThrottle) bucket(addr string) *rate.Limiter {
	if b, ok := t.buckets[addr]; ok {
		return b
	}
	if len(t.buckets) >= maxThrottled {
		return t.overflow
	}
	return nil
}

// wait says how long addr must wait before its credentials are looked at
// again; zero: now.
func (t *loginThrottle) wait(addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	b := t.bucket(addr)
	if b == nil {
		return 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(t.limit) * float64(time.Second))
}

// fail takes a token from addr's bucket. Past the burst the bucket goes into
// debt: failures that passed wait at the same moment push the next attempt
// further out, so parallel guesses gain nothing over the limit.
func (t *loginThrottle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(addr)
	if b == nil {
		b = rate.NewLimiter(t.limit, t.burst)
		t.buckets[addr] = b
	}
	b.ReserveN(now, 1)
}

// sweep drops full buckets, at most once a minute.
func (t *loginThrottle) sweep(now time.Time) {
	if now.Sub(t.swept) < time.Minute {
		return
	}
	t.swept = now
	for addr, b := range t.buckets {
		if b.TokensAt(now) >= float64(t.burst) {
			delete(t.buckets, addr)
		}
	}
}

// mountOps adds River UI and metrics. Cross-origin protection refuses
// state-changing requests that a browser sends from another site (River
// UI's cancel, retry, delete, pause…), since Basic credentials would be
// attached to them automatically. River UI and /metrics share one login
// throttle.
func mountOps(r *gin.Engine, log *slog.Logger, ops Ops) {
	auth := requireOps(log, ops.Username, ops.Password, newLoginThrottle(ops.LoginLimit))
	cop := http.NewCrossOriginProtection()
	r.Any(UIPrefix+"/*path", auth, gin.WrapH(cop.Handler(ops.UI)))
	r.GET(UIPrefix, func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, UIPrefix+"/") })
	if ops.Metrics != nil {
		r.GET("/metrics", auth, gin.WrapH(ops.Metrics))
	}
}
