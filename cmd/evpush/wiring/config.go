// Package wiring loads the configuration and assembles the service from its
// adapters. It lives beside main so the end-to-end tests in test/ can start
// exactly what `evpush serve` starts.
package wiring

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// Defaults for the environment variables (README, "Configuration").
const (
	DefaultDatabaseURL     = "postgres://postgres@127.0.0.1:5432/evpush?sslmode=disable"
	DefaultHTTPAddr        = ":8080"
	DefaultVAPIDSubject    = "mailto:push@evpower.kg"
	DefaultJWTLeeway       = 30 * time.Second
	DefaultPushTimeout     = webpush.DefaultTimeout
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultShutdownTimeout = 25 * time.Second
	DefaultWorkers         = queue.DefaultWorkers
	DefaultRescueAfter     = queue.DefaultRescueAfter
)

// Config is every setting of the service, loaded and validated once.
type Config struct {
	DatabaseURL string
	HTTPAddr    string

	JWTSecret    []byte
	JWTPublicKey crypto.PublicKey // from JWT_PUBLIC_KEY_FILE
	JWTIssuer    string
	JWTAudience  string
	JWTLeeway    time.Duration
	// JWTUserClaim holds the user id (a string or an integer); JWTRoleClaim
	// the role (empty: user_type, then role); JWTRoleValues, when not nil,
	// maps the backend's role values to ours, and only those give a role.
	JWTUserClaim  string
	JWTRoleClaim  string
	JWTRoleValues map[string]domain.UserType
	// JWTRequireRole refuses tokens without a role claim (401); off, such a
	// token may subscribe in either role. On unless DEV_MODE.
	JWTRequireRole bool

	VAPIDSubject string
	VAPIDKeys    domain.VAPIDKeys // zero: read from the database or generated once
	// VAPIDKeyEncryptionKey (32 bytes) encrypts the VAPID private key the
	// service stores in its database; nil: stored in plain text.
	VAPIDKeyEncryptionKey []byte
	// VAPIDReloadInterval is how often the keys are read again, so a
	// rotation reaches running instances without a restart.
	VAPIDReloadInterval time.Duration

	PushPolicy  domain.EndpointPolicy
	PushTimeout time.Duration

	OpsUsername, OpsPassword string // River UI and /metrics; empty: UI off
	MetricsAddr              string // a listener of its own for /metrics, without credentials
	PprofAddr                string // net/http/pprof on a listener of its own; empty: off
	// OpsLoginLimit bounds failed operator logins per client address.
	OpsLoginLimit httpadapter.RateLimit

	// DevMode enables the demo's sign-in (POST /api/v1/dev/token) and a demo
	// station. Never in production: anyone could mint a token.
	DevMode bool

	ShutdownTimeout time.Duration // draining HTTP requests and running jobs on SIGTERM
	Cleanup         app.CleanupPolicy

	TestLimit, SubscribeLimit httpadapter.RateLimit // per user and minute
	MaxSubscriptionsPerUser   int                   // the oldest device is replaced past this

	DeliveryMaxAttempts int           // tries of one delivery, the first included
	DeliveryRetryBase   time.Duration // first retry delay; doubles each time

	Workers       int           // deliveries at once in this process
	RescueAfter   time.Duration // when a job left running by a dead process is retried
	JobRetention  time.Duration // how long completed jobs are kept (and duplicates caught)
	DefaultLocale string

	// Messages are the notification texts (embedded, overridden from
	// MESSAGES_DIR) and click targets (LINK_*).
	Messages domain.Messages

	// ReferenceCharging turns on the demo charging module: its tables and
	// POST /api/v1/charging/start|stop. Off in production, where the
	// charging service owns those tables.
	ReferenceCharging bool
	ChargingLimit     httpadapter.RateLimit // per user and minute, start and stop together

	CORSOrigins []string

	LogLevel  slog.Level
	LogFormat string // "text" or "json"
}

// MinJWTSecretBytes is the shortest JWT_SECRET accepted: HS256 wants a key
// of at least its hash's size, 256 bits (RFC 7518 §3.2), and a shorter one
// can be guessed offline from any one token.
const MinJWTSecretBytes = 32

// DevJWTSecret is the development secret the Makefile publishes for `make
// run`; anyone can read it, so it is refused unless DEV_MODE=true.
const DevJWTSecret = "dev-only-jwt-secret-do-not-use-in-production"

// DevOpsPassword is the operators' password the Makefile publishes for
// `make run`; like DevJWTSecret it is refused outside DEV_MODE.
const DevOpsPassword = "dev-only-ops-password"

// MinOpsPasswordChars is the shortest OPS_PASSWORD accepted: the login is
// throttled per address, not globally, so the password must hold by itself.
const MinOpsPasswordChars = 16

// configError names the variable, so start-up fails with one clear line.
func configError(name, msg string) error { return fmt.Errorf("config: %s: %s", name, msg) }

// LoadConfig reads the configuration from getenv (os.Getenv in production).
func LoadConfig(getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL:  env("DATABASE_URL", DefaultDatabaseURL),
		HTTPAddr:     env("HTTP_ADDR", DefaultHTTPAddr),
		JWTSecret:    []byte(strings.TrimSpace(getenv("JWT_SECRET"))),
		JWTIssuer:    env("JWT_ISSUER", ""),
		JWTAudience:  env("JWT_AUDIENCE", ""),
		VAPIDSubject: env("VAPID_SUBJECT", DefaultVAPIDSubject),
		VAPIDKeys: domain.VAPIDKeys{
			PublicKey:  env("VAPID_PUBLIC_KEY", ""),
			PrivateKey: env("VAPID_PRIVATE_KEY", ""),
		},
		LogFormat: env("LOG_FORMAT", DefaultLogFormat),
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		check(configError("DATABASE_URL", "must be a postgres:// URL"))
	}
	if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
		check(configError("HTTP_ADDR", "must be host:port or :port"))
	}
	var err error
	// Read first: other settings' defaults and rules depend on it.
	c.DevMode, err = boolEnv(env("DEV_MODE", "false"))
	check(wrapName("DEV_MODE", err))
	c.JWTLeeway, err = durationEnv(env("JWT_LEEWAY", ""), DefaultJWTLeeway, 0, 5*time.Minute)
	check(wrapName("JWT_LEEWAY", err))
	c.PushTimeout, err = durationEnv(env("PUSH_TIMEOUT", ""), DefaultPushTimeout, time.Second, 2*time.Minute)
	check(wrapName("PUSH_TIMEOUT", err))

	if path := env("JWT_PUBLIC_KEY_FILE", ""); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			check(configError("JWT_PUBLIC_KEY_FILE", "cannot read "+path))
		} else if c.JWTPublicKey, err = auth.ParsePublicKeyPEM(pem); err != nil {
			check(configError("JWT_PUBLIC_KEY_FILE", err.Error()))
		}
	}
	switch {
	case len(c.JWTSecret) == 0 && c.JWTPublicKey == nil:
		check(configError("JWT_SECRET", "set it (HS256) or JWT_PUBLIC_KEY_FILE (RS256/ES256)"))
	case len(c.JWTSecret) == 0:
	case len(c.JWTSecret) < MinJWTSecretBytes:
		check(configError("JWT_SECRET", fmt.Sprintf("must be at least %d bytes (e.g. openssl rand -base64 48)", MinJWTSecretBytes)))
	case string(c.JWTSecret) == DevJWTSecret && !c.DevMode:
		check(configError("JWT_SECRET", "is the development secret published in the Makefile; set your own (it is accepted only with DEV_MODE=true)"))
	}
	c.JWTRequireRole, err = boolEnv(env("JWT_REQUIRE_ROLE", strconv.FormatBool(!c.DevMode)))
	check(wrapName("JWT_REQUIRE_ROLE", err))
	c.JWTUserClaim = env("JWT_USER_CLAIM", auth.DefaultUserClaim)
	check(wrapName("JWT_USER_CLAIM", auth.CheckClaimName(c.JWTUserClaim)))
	if c.JWTRoleClaim = env("JWT_ROLE_CLAIM", ""); c.JWTRoleClaim != "" {
		check(wrapName("JWT_ROLE_CLAIM", auth.CheckClaimName(c.JWTRoleClaim)))
	}
	for _, name := range auth.RoleClaims(c.JWTRoleClaim) {
		if name == c.JWTUserClaim {
			check(configError("JWT_USER_CLAIM", fmt.Sprintf("%q is read for the role too (JWT_ROLE_CLAIM)", name)))
		}
	}
	if v := env("JWT_ROLE_VALUES", ""); v != "" {
		c.JWTRoleValues, err = auth.ParseRoleValues(v)
		check(wrapName("JWT_ROLE_VALUES", err))
	}

	if !strings.HasPrefix(c.VAPIDSubject, "mailto:") && !strings.HasPrefix(c.VAPIDSubject, "https://") {
		check(configError("VAPID_SUBJECT", `must start with "mailto:" or "https://"`))
	} else if strings.HasPrefix(c.VAPIDSubject, "mailto:mailto:") || c.VAPIDSubject == "mailto:" || c.VAPIDSubject == "https://" || strings.ContainsAny(c.VAPIDSubject, " <>") {
		check(configError("VAPID_SUBJECT", "must be one well-formed contact URI, e.g. mailto:ops@example.com"))
	}
	switch {
	case c.VAPIDKeys == (domain.VAPIDKeys{}):
	case c.VAPIDKeys.PublicKey == "" || c.VAPIDKeys.PrivateKey == "":
		check(configError("VAPID_PUBLIC_KEY", "set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither"))
	default:
		if err := c.VAPIDKeys.Validate(); err != nil {
			check(configError("VAPID_PRIVATE_KEY", err.Error()))
		}
		// As browsers name it (application_server_key) and webpush-go reads it.
		c.VAPIDKeys = c.VAPIDKeys.Canonical()
	}

	if v := env("VAPID_KEY_ENCRYPTION_KEY", ""); v != "" {
		c.VAPIDKeyEncryptionKey, err = keyseal.ParseKey(v)
		check(wrapName("VAPID_KEY_ENCRYPTION_KEY", err))
	}
	// At most a minute: the README promises that a rotation reaches every
	// instance within one.
	c.VAPIDReloadInterval, err = durationEnv(env("VAPID_RELOAD_INTERVAL", ""), app.DefaultKeyReload, 100*time.Millisecond, time.Minute)
	check(wrapName("VAPID_RELOAD_INTERVAL", err))
	c.Cleanup.RetireAfter, err = durationEnv(env("VAPID_RETIRE_AFTER", ""), app.DefaultRetireAfter, time.Hour, 10*365*24*time.Hour)
	check(wrapName("VAPID_RETIRE_AFTER", err))

	c.PushPolicy.AllowedHosts = domain.DefaultPushHosts
	if v := env("PUSH_ALLOWED_HOSTS", ""); v != "" {
		c.PushPolicy.AllowedHosts = splitList(v)
		if len(c.PushPolicy.AllowedHosts) == 0 {
			check(configError("PUSH_ALLOWED_HOSTS", "lists no host"))
		}
		for _, p := range c.PushPolicy.AllowedHosts {
			if !domain.ValidHostPattern(p) {
				check(configError("PUSH_ALLOWED_HOSTS", fmt.Sprintf("%q is not a host or *.domain pattern", p)))
			}
		}
	}
	c.PushPolicy.AllowLoopback, err = boolEnv(env("PUSH_ALLOW_LOOPBACK", "false"))
	check(wrapName("PUSH_ALLOW_LOOPBACK", err))

	for _, o := range splitList(env("CORS_ALLOWED_ORIGINS", "")) {
		origin, ok := normalizeOrigin(o)
		if !ok {
			check(configError("CORS_ALLOWED_ORIGINS", fmt.Sprintf("%q is not an origin like https://app.example.com", o)))
		}
		c.CORSOrigins = append(c.CORSOrigins, origin)
	}

	c.Workers, err = intEnv(env("WORKERS", ""), DefaultWorkers, 1, 10_000)
	check(wrapName("WORKERS", err))
	c.DeliveryMaxAttempts, err = intEnv(env("DELIVERY_MAX_ATTEMPTS", ""), queue.DeliveryMaxAttempts, 1, 100)
	check(wrapName("DELIVERY_MAX_ATTEMPTS", err))
	c.DeliveryRetryBase, err = durationEnv(env("DELIVERY_RETRY_BASE", ""), queue.DefaultRetryBase, 100*time.Millisecond, time.Hour)
	check(wrapName("DELIVERY_RETRY_BASE", err))
	c.RescueAfter, err = durationEnv(env("JOB_RESCUE_AFTER", ""), DefaultRescueAfter, time.Second, 24*time.Hour)
	check(wrapName("JOB_RESCUE_AFTER", err))
	if c.RescueAfter <= c.PushTimeout+deliverySlack {
		check(configError("JOB_RESCUE_AFTER", "must be longer than PUSH_TIMEOUT + 5s, or live jobs would be rescued"))
	}
	c.JobRetention, err = durationEnv(env("JOB_RETENTION", ""), queue.DefaultCompletedRetention, time.Minute, 30*24*time.Hour)
	check(wrapName("JOB_RETENTION", err))
	c.DefaultLocale = env("DEFAULT_LOCALE", domain.DefaultLocale)
	catalog, err := messages.Load(env("MESSAGES_DIR", ""), domain.DefaultLocale)
	if err != nil {
		check(configError("MESSAGES_DIR", err.Error()))
	} else if l, ok := domain.NormalizeLocale(c.DefaultLocale); !ok || !catalog.Has(l) {
		check(configError("DEFAULT_LOCALE", "must be a language of the message catalogue: "+strings.Join(catalog.Languages(), ", ")))
	} else if catalog, err = catalog.WithFallback(l); err != nil {
		check(configError("DEFAULT_LOCALE", err.Error()))
	} else {
		c.DefaultLocale = l
		c.Messages.Catalog = catalog
	}
	c.Messages.Links = domain.Links{}
	for typ, def := range domain.DefaultLinks {
		name := "LINK_" + strings.ToUpper(string(typ))
		t := env(name, def)
		if err := domain.ValidateLinkTemplate(t); err != nil {
			check(configError(name, err.Error()))
		}
		c.Messages.Links[typ] = t
	}
	c.ReferenceCharging, err = boolEnv(env("REFERENCE_CHARGING", "false"))
	check(wrapName("REFERENCE_CHARGING", err))
	c.ChargingLimit, err = rateEnv(env("RATE_LIMIT_CHARGING", ""), DefaultChargingLimit)
	check(wrapName("RATE_LIMIT_CHARGING", err))

	c.OpsUsername, c.OpsPassword = env("OPS_USERNAME", ""), env("OPS_PASSWORD", "")
	switch {
	case (c.OpsUsername == "") != (c.OpsPassword == ""):
		check(configError("OPS_USERNAME", "set both OPS_USERNAME and OPS_PASSWORD, or neither (River UI off)"))
	case c.OpsPassword != "" && utf8.RuneCountInString(c.OpsPassword) < MinOpsPasswordChars:
		check(configError("OPS_PASSWORD", fmt.Sprintf("must be at least %d characters", MinOpsPasswordChars)))
	case c.OpsPassword == DevOpsPassword && !c.DevMode:
		check(configError("OPS_PASSWORD", "is the development password the Makefile publishes; set your own (or DEV_MODE=true)"))
	}
	c.OpsLoginLimit, err = rateEnv(env("RATE_LIMIT_OPS_LOGIN", ""), DefaultOpsLoginLimit)
	if err == nil && c.OpsLoginLimit.PerMinute <= 0 {
		err = errors.New("cannot be turned off: it is what stops password guessing")
	}
	check(wrapName("RATE_LIMIT_OPS_LOGIN", err))
	if c.MetricsAddr = env("METRICS_ADDR", ""); c.MetricsAddr != "" {
		if _, _, err := splitHostPort(c.MetricsAddr); err != nil {
			check(configError("METRICS_ADDR", "must be host:port or :port"))
		}
	}
	c.TestLimit, err = rateEnv(env("RATE_LIMIT_TEST", ""), DefaultTestLimit)
	check(wrapName("RATE_LIMIT_TEST", err))
	c.SubscribeLimit, err = rateEnv(env("RATE_LIMIT_SUBSCRIBE", ""), DefaultSubscribeLimit)
	check(wrapName("RATE_LIMIT_SUBSCRIBE", err))
	c.MaxSubscriptionsPerUser, err = intEnv(env("MAX_SUBSCRIPTIONS_PER_USER", ""), DefaultMaxSubscriptionsPerUser, 1, 10_000)
	check(wrapName("MAX_SUBSCRIPTIONS_PER_USER", err))

	if c.DevMode && len(c.JWTSecret) == 0 {
		check(configError("DEV_MODE", "needs JWT_SECRET to mint development tokens"))
	}
	if c.PprofAddr = env("PPROF_ADDR", ""); c.PprofAddr != "" {
		if _, _, err := splitHostPort(c.PprofAddr); err != nil {
			check(configError("PPROF_ADDR", "must be host:port or :port"))
		}
	}
	c.ShutdownTimeout, err = durationEnv(env("SHUTDOWN_TIMEOUT", ""), DefaultShutdownTimeout, time.Second, 10*time.Minute)
	check(wrapName("SHUTDOWN_TIMEOUT", err))
	c.Cleanup.After, err = durationEnv(env("CLEANUP_AFTER", ""), app.DefaultCleanupAfter, time.Hour, 10*365*24*time.Hour)
	check(wrapName("CLEANUP_AFTER", err))
	c.Cleanup.MinFailures, err = intEnv(env("CLEANUP_MIN_FAILURES", ""), app.DefaultCleanupMinFailures, 1, 1_000_000)
	check(wrapName("CLEANUP_MIN_FAILURES", err))

	if err := c.LogLevel.UnmarshalText([]byte(env("LOG_LEVEL", DefaultLogLevel))); err != nil {
		check(configError("LOG_LEVEL", "must be debug, info, warn or error"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		check(configError("LOG_FORMAT", `must be "text" or "json"`))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// LogWarnings logs, once at start, settings that are valid but risky.
func (c Config) LogWarnings(log *slog.Logger) {
	// Neither side listener asks for credentials: bound beyond loopback,
	// only the network stands between it and whoever reaches the port.
	for _, l := range []struct{ name, addr, serves string }{
		{"METRICS_ADDR", c.MetricsAddr, "/metrics"},
		{"PPROF_ADDR", c.PprofAddr, "Go's pprof (heap, goroutine stacks, CPU profiles)"},
	} {
		if l.addr != "" && !loopbackAddr(l.addr) {
			log.Warn(l.name+" is not a loopback address: it serves "+l.serves+
				" without credentials to anyone who can reach it; bind it to 127.0.0.1 or keep it behind a firewall",
				"addr", l.addr)
		}
	}
}

// loopbackAddr reports whether a listen address (host:port) binds loopback
// only: 127.0.0.0/8, ::1 or localhost. An empty host binds every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func wrapName(name string, err error) error {
	if err == nil {
		return nil
	}
	return configError(name, err.Error())
}

func durationEnv(v string, def, lo, hi time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if secs, err2 := strconv.Atoi(v); err2 == nil {
			d, err = time.Duration(secs)*time.Second, nil
		}
	}
	if err != nil {
		return 0, errors.New("must be a duration like 30s")
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("must be between %s and %s", lo, hi)
	}
	return d, nil
}

// Defaults of the abuse limits.
var (
	DefaultTestLimit               = httpadapter.RateLimit{PerMinute: 6, Burst: 3}
	DefaultSubscribeLimit          = httpadapter.RateLimit{PerMinute: 60, Burst: 20}
	DefaultChargingLimit           = httpadapter.RateLimit{PerMinute: 6, Burst: 3}
	DefaultOpsLoginLimit           = httpadapter.DefaultOpsLoginLimit
	DefaultMaxSubscriptionsPerUser = 20
)

// rateEnv reads "N/min" or "N/min,B" (burst B; default N/2, at least 1);
// "0" or "off" turns the limit off.
func rateEnv(v string, def httpadapter.RateLimit) (httpadapter.RateLimit, error) {
	if v == "" {
		return def, nil
	}
	if v == "0" || v == "off" {
		return httpadapter.RateLimit{}, nil
	}
	rateStr, burstStr, hasBurst := strings.Cut(v, ",")
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rateStr), "/min"), 64)
	if err != nil || n <= 0 || !strings.HasSuffix(strings.TrimSpace(rateStr), "/min") {
		return httpadapter.RateLimit{}, errors.New(`must be like "6/min" or "6/min,3" (burst), or "off"`)
	}
	l := httpadapter.RateLimit{PerMinute: n, Burst: max(int(n/2), 1)}
	if hasBurst {
		if l.Burst, err = strconv.Atoi(strings.TrimSpace(burstStr)); err != nil || l.Burst < 1 {
			return httpadapter.RateLimit{}, errors.New("burst must be a whole number of at least 1")
		}
	}
	return l, nil
}

func intEnv(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// deliverySlack is the time a delivery job gets beyond its push request, for
// the database work around it.
const deliverySlack = 5 * time.Second

func boolEnv(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// normalizeOrigin reduces an origin to scheme://host[:port], the form
// browsers send in the Origin header, which CORS compares exactly.
func normalizeOrigin(o string) (string, bool) {
	if o == "*" {
		return o, true
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), true
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", errors.New("missing port")
	}
	if _, err := strconv.ParseUint(addr[i+1:], 10, 16); err != nil {
		return "", "", err
	}
	return addr[:i], addr[i+1:], nil
}
