// Package wiring loads the configuration and assembles the service from its
// adapters. It lives beside main so the end-to-end tests in test/ can start
// exactly what `evpush serve` starts.
package wiring

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
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
	DefaultLogLevel        = slog.LevelInfo
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

// LoadConfig reads the configuration from getenv (os.Getenv in production)
// in three steps, as River's Config does (WithDefaults, validate): the
// defaults (DefaultConfig), what the environment sets over them (parse
// errors), then Validate (rules and ranges). Every problem of both steps is
// reported at once, one line per variable, so one restart fixes them all.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	r := &envReader{getenv: getenv}
	c.readEnv(r)
	if err := errors.Join(errors.Join(r.errs...), c.validate(r.unparsed)); err != nil {
		return Config{}, err
	}
	return c, nil
}

// DefaultConfig is every setting at its default: the one place the
// service's defaults are applied. The queue's and the cleanup policy's come
// from their own packages' WithDefaults, which their constructors apply too.
// JWTRequireRole is not here: its default follows DEV_MODE (readJWT).
func DefaultConfig() Config {
	q := queue.Config{}.WithDefaults()
	return Config{
		DatabaseURL:             DefaultDatabaseURL,
		HTTPAddr:                DefaultHTTPAddr,
		JWTLeeway:               DefaultJWTLeeway,
		JWTUserClaim:            auth.DefaultUserClaim,
		VAPIDSubject:            DefaultVAPIDSubject,
		VAPIDReloadInterval:     app.DefaultKeyReload,
		PushPolicy:              domain.EndpointPolicy{AllowedHosts: domain.DefaultPushHosts},
		PushTimeout:             DefaultPushTimeout,
		OpsLoginLimit:           DefaultOpsLoginLimit,
		ShutdownTimeout:         DefaultShutdownTimeout,
		Cleanup:                 app.CleanupPolicy{}.WithDefaults(),
		TestLimit:               DefaultTestLimit,
		SubscribeLimit:          DefaultSubscribeLimit,
		MaxSubscriptionsPerUser: DefaultMaxSubscriptionsPerUser,
		DeliveryMaxAttempts:     q.MaxAttempts,
		DeliveryRetryBase:       q.RetryBase,
		Workers:                 q.Workers,
		RescueAfter:             q.RescueAfter,
		JobRetention:            q.CompletedRetention,
		DefaultLocale:           domain.DefaultLocale,
		Messages:                domain.Messages{Links: maps.Clone(domain.DefaultLinks)},
		ChargingLimit:           DefaultChargingLimit,
		LogLevel:                DefaultLogLevel,
		LogFormat:               DefaultLogFormat,
	}
}

// Validate checks the rules of every setting and reports all that are
// broken, each as "config: VAR: …".
func (c Config) Validate() error { return c.validate(nil) }

// validate is Validate, told which variables did not parse (LoadConfig):
// those keep their defaults, which a rule across settings must not judge.
func (c Config) validate(unparsed map[string]bool) error {
	p := &problems{unparsed: unparsed}
	for _, n := range c.durations() {
		p.add(n.name, n.problem(durationRangeMsg))
	}
	for _, n := range c.ints() {
		p.add(n.name, n.problem(intRangeMsg))
	}
	c.validateServer(p)
	c.validateJWT(p)
	c.validateVAPID(p)
	c.validatePush(p)
	c.validateOps(p)
	return errors.Join(p.errs...)
}

// problems collects Validate's findings.
type problems struct {
	errs     []error
	unparsed map[string]bool
}

// add records msg under the variable name; an empty msg is no problem.
func (p *problems) add(name, msg string) {
	if msg != "" {
		p.errs = append(p.errs, configError(name, msg))
	}
}

// addErr records err under the variable name, if any.
func (p *problems) addErr(name string, err error) {
	if err != nil {
		p.add(name, err.Error())
	}
}

// validateServer checks the listeners, the database and the logs.
func (c Config) validateServer(p *problems) {
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.add("DATABASE_URL", "must be a postgres:// URL")
	}
	for _, l := range []struct{ name, addr string }{
		{"HTTP_ADDR", c.HTTPAddr}, {"METRICS_ADDR", c.MetricsAddr}, {"PPROF_ADDR", c.PprofAddr},
	} {
		// Only HTTP_ADDR is always on; the side listeners are off when empty.
		if l.addr == "" && l.name != "HTTP_ADDR" {
			continue
		}
		if _, _, err := splitHostPort(l.addr); err != nil {
			p.add(l.name, "must be host:port or :port")
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		p.add("LOG_FORMAT", `must be "text" or "json"`)
	}
}

// validateJWT checks the token settings: a key to verify with, a secret
// that cannot be guessed, and claim names that do not collide.
func (c Config) validateJWT(p *problems) {
	switch {
	case len(c.JWTSecret) == 0 && c.JWTPublicKey == nil:
		p.add("JWT_SECRET", "set it (HS256) or JWT_PUBLIC_KEY_FILE (RS256/ES256)")
	case len(c.JWTSecret) == 0:
	case len(c.JWTSecret) < MinJWTSecretBytes:
		p.add("JWT_SECRET", fmt.Sprintf("must be at least %d bytes (e.g. openssl rand -base64 48)", MinJWTSecretBytes))
	case string(c.JWTSecret) == DevJWTSecret && !c.DevMode:
		p.add("JWT_SECRET", "is the development secret published in the Makefile; set your own (it is accepted only with DEV_MODE=true)")
	}
	if c.DevMode && len(c.JWTSecret) == 0 {
		p.add("DEV_MODE", "needs JWT_SECRET to mint development tokens")
	}
	p.addErr("JWT_USER_CLAIM", auth.CheckClaimName(c.JWTUserClaim))
	if c.JWTRoleClaim != "" {
		p.addErr("JWT_ROLE_CLAIM", auth.CheckClaimName(c.JWTRoleClaim))
	}
	for _, name := range auth.RoleClaims(c.JWTRoleClaim) {
		if name == c.JWTUserClaim {
			p.add("JWT_USER_CLAIM", fmt.Sprintf("%q is read for the role too (JWT_ROLE_CLAIM)", name))
		}
	}
}

// validateVAPID checks the contact URI push services see and the
// configured key pair.
func (c Config) validateVAPID(p *problems) {
	s := c.VAPIDSubject
	if !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") {
		p.add("VAPID_SUBJECT", `must start with "mailto:" or "https://"`)
	} else if strings.HasPrefix(s, "mailto:mailto:") || s == "mailto:" || s == "https://" || strings.ContainsAny(s, " <>") {
		p.add("VAPID_SUBJECT", "must be one well-formed contact URI, e.g. mailto:ops@example.com")
	}
	switch {
	case c.VAPIDKeys == (domain.VAPIDKeys{}):
	case c.VAPIDKeys.PublicKey == "" || c.VAPIDKeys.PrivateKey == "":
		p.add("VAPID_PUBLIC_KEY", "set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither")
	default:
		p.addErr("VAPID_PRIVATE_KEY", c.VAPIDKeys.Validate())
	}
}

// validatePush checks where pushes may go, the notification links, and
// that a live delivery job is never taken for a dead one.
func (c Config) validatePush(p *problems) {
	if len(c.PushPolicy.AllowedHosts) == 0 {
		p.add("PUSH_ALLOWED_HOSTS", "lists no host")
	}
	for _, h := range c.PushPolicy.AllowedHosts {
		if !domain.ValidHostPattern(h) {
			p.add("PUSH_ALLOWED_HOSTS", fmt.Sprintf("%q is not a host or *.domain pattern", h))
		}
	}
	for typ, t := range c.Messages.Links {
		p.addErr(linkVar(typ), domain.ValidateLinkTemplate(t))
	}
	// Compared only when both parsed and are in range: otherwise each is
	// reported already.
	if c.durationUsable(p, "PUSH_TIMEOUT") && c.durationUsable(p, "JOB_RESCUE_AFTER") &&
		c.RescueAfter <= c.PushTimeout+deliverySlack {
		p.add("JOB_RESCUE_AFTER", "must be longer than PUSH_TIMEOUT + 5s, or live jobs would be rescued")
	}
}

// validateOps checks the operators' credentials and their login limit.
func (c Config) validateOps(p *problems) {
	switch {
	case (c.OpsUsername == "") != (c.OpsPassword == ""):
		p.add("OPS_USERNAME", "set both OPS_USERNAME and OPS_PASSWORD, or neither (River UI off)")
	case c.OpsPassword != "" && utf8.RuneCountInString(c.OpsPassword) < MinOpsPasswordChars:
		p.add("OPS_PASSWORD", fmt.Sprintf("must be at least %d characters", MinOpsPasswordChars))
	case c.OpsPassword == DevOpsPassword && !c.DevMode:
		p.add("OPS_PASSWORD", "is the development password the Makefile publishes; set your own (or DEV_MODE=true)")
	}
	if c.OpsLoginLimit.PerMinute <= 0 {
		p.add("RATE_LIMIT_OPS_LOGIN", "cannot be turned off: it is what stops password guessing")
	}
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

// Defaults of the abuse limits.
var (
	DefaultTestLimit               = httpadapter.RateLimit{PerMinute: 6, Burst: 3}
	DefaultSubscribeLimit          = httpadapter.RateLimit{PerMinute: 60, Burst: 20}
	DefaultChargingLimit           = httpadapter.RateLimit{PerMinute: 6, Burst: 3}
	DefaultOpsLoginLimit           = httpadapter.DefaultOpsLoginLimit
	DefaultMaxSubscriptionsPerUser = 20
)

// deliverySlack is the time a delivery job gets beyond its push request, for
// the database work around it.
const deliverySlack = 5 * time.Second

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
