package wiring

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

// envReader reads variables over the defaults and collects what does not
// parse; rules and ranges are Validate's. A variable that is unset or blank
// keeps its default.
type envReader struct {
	getenv   func(string) string
	errs     []error
	unparsed map[string]bool
}

// get is the trimmed value of name, "" when unset.
func (r *envReader) get(name string) string { return strings.TrimSpace(r.getenv(name)) }

// fail records that name does not parse.
func (r *envReader) fail(name string, err error) {
	if err != nil {
		r.errs = append(r.errs, configError(name, err.Error()))
		if r.unparsed == nil {
			r.unparsed = map[string]bool{}
		}
		r.unparsed[name] = true
	}
}

// string sets *p to name's value when set.
func (r *envReader) string(name string, p *string) {
	if v := r.get(name); v != "" {
		*p = v
	}
}

// bool sets *p to name's value when set.
func (r *envReader) bool(name string, p *bool) {
	if v := r.get(name); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.fail(name, errors.New("must be true or false"))
			return
		}
		*p = b
	}
}

// rate sets *p from "N/min" or "N/min,B" (burst B; default N/2, at least
// 1); "0" or "off" turns the limit off.
func (r *envReader) rate(name string, p *httpadapter.RateLimit) {
	v := r.get(name)
	switch v {
	case "":
		return
	case "0", "off":
		*p = httpadapter.RateLimit{}
		return
	}
	rateStr, burstStr, hasBurst := strings.Cut(v, ",")
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rateStr), "/min"), 64)
	if err != nil || n <= 0 || !strings.HasSuffix(strings.TrimSpace(rateStr), "/min") {
		r.fail(name, errors.New(`must be like "6/min" or "6/min,3" (burst), or "off"`))
		return
	}
	l := httpadapter.RateLimit{PerMinute: n, Burst: max(int(n/2), 1)}
	if hasBurst {
		if l.Burst, err = strconv.Atoi(strings.TrimSpace(burstStr)); err != nil || l.Burst < 1 {
			r.fail(name, errors.New("burst must be a whole number of at least 1"))
			return
		}
	}
	*p = l
}

// bounded is a numeric setting: its variable, the field it sets and the
// range Validate accepts. One table (durations, ints) serves both steps.
type bounded[T int | time.Duration] struct {
	name   string
	p      *T
	lo, hi T
}

// The range messages, given lo and hi.
const (
	durationRangeMsg = "must be between %s and %s"
	intRangeMsg      = "must be a whole number from %d to %d"
)

func (b bounded[T]) ok() bool { return *b.p >= b.lo && *b.p <= b.hi }

// problem is the range message when out of range, else "".
func (b bounded[T]) problem(format string) string {
	if b.ok() {
		return ""
	}
	return fmt.Sprintf(format, b.lo, b.hi)
}

// durations are the settings read as durations, by area.
func (c *Config) durations() []bounded[time.Duration] {
	const year = 365 * 24 * time.Hour
	return []bounded[time.Duration]{
		{"SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, time.Second, 10 * time.Minute},
		{"JWT_LEEWAY", &c.JWTLeeway, 0, 5 * time.Minute},
		// At most a minute: the README promises that a rotation reaches
		// every instance within one.
		{"VAPID_RELOAD_INTERVAL", &c.VAPIDReloadInterval, 100 * time.Millisecond, time.Minute},
		{"VAPID_RETIRE_AFTER", &c.Cleanup.RetireAfter, time.Hour, 10 * year},
		{"PUSH_TIMEOUT", &c.PushTimeout, time.Second, 2 * time.Minute},
		{"DELIVERY_RETRY_BASE", &c.DeliveryRetryBase, 100 * time.Millisecond, time.Hour},
		{"JOB_RESCUE_AFTER", &c.RescueAfter, time.Second, 24 * time.Hour},
		{"JOB_RETENTION", &c.JobRetention, time.Minute, 30 * 24 * time.Hour},
		{"CLEANUP_AFTER", &c.Cleanup.After, time.Hour, 10 * year},
	}
}

// ints are the settings read as whole numbers, by area.
func (c *Config) ints() []bounded[int] {
	return []bounded[int]{
		{"WORKERS", &c.Workers, 1, 10_000},
		{"DELIVERY_MAX_ATTEMPTS", &c.DeliveryMaxAttempts, 1, 100},
		{"MAX_SUBSCRIPTIONS_PER_USER", &c.MaxSubscriptionsPerUser, 1, 10_000},
		{"CLEANUP_MIN_FAILURES", &c.Cleanup.MinFailures, 1, 1_000_000},
	}
}

// durationUsable reports whether the duration setting name parsed and is
// in range, so a rule across settings may judge it.
func (c Config) durationUsable(p *problems, name string) bool {
	for _, d := range c.durations() {
		if d.name == name {
			return !p.unparsed[name] && d.ok()
		}
	}
	return true
}

// readNumbers parses the numeric settings that are set: a duration like
// 30s, or a whole number of seconds.
func (c *Config) readNumbers(r *envReader) {
	for _, d := range c.durations() {
		v := r.get(d.name)
		if v == "" {
			continue
		}
		n, err := time.ParseDuration(v)
		if err != nil {
			secs, err2 := strconv.Atoi(v)
			if err2 != nil {
				r.fail(d.name, errors.New("must be a duration like 30s"))
				continue
			}
			n = time.Duration(secs) * time.Second
		}
		*d.p = n
	}
	for _, i := range c.ints() {
		if v := r.get(i.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				r.fail(i.name, fmt.Errorf(intRangeMsg, i.lo, i.hi))
				continue
			}
			*i.p = n
		}
	}
}

// readEnv reads every variable that is set over c, area by area.
func (c *Config) readEnv(r *envReader) {
	c.readServer(r) // first: other settings' defaults and rules depend on DEV_MODE
	c.readJWT(r)
	c.readVAPID(r)
	c.readPush(r)
	c.readMessages(r)
	c.readOps(r)
	c.readNumbers(r)
}

// readServer reads the database, the listener, the mode and the logs.
func (c *Config) readServer(r *envReader) {
	r.string("DATABASE_URL", &c.DatabaseURL)
	r.string("HTTP_ADDR", &c.HTTPAddr)
	r.bool("DEV_MODE", &c.DevMode)
	r.bool("REFERENCE_CHARGING", &c.ReferenceCharging)
	r.string("LOG_FORMAT", &c.LogFormat)
	if v := r.get("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			r.fail("LOG_LEVEL", errors.New("must be debug, info, warn or error"))
		}
	}
}

// readJWT reads how tokens are verified and what their claims are named.
func (c *Config) readJWT(r *envReader) {
	c.JWTSecret = []byte(r.get("JWT_SECRET"))
	r.string("JWT_ISSUER", &c.JWTIssuer)
	r.string("JWT_AUDIENCE", &c.JWTAudience)
	if path := r.get("JWT_PUBLIC_KEY_FILE"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			r.fail("JWT_PUBLIC_KEY_FILE", errors.New("cannot read "+path))
		} else if c.JWTPublicKey, err = auth.ParsePublicKeyPEM(pem); err != nil {
			r.fail("JWT_PUBLIC_KEY_FILE", err)
		}
	}
	// Its default follows DEV_MODE: the demo's tokens may carry no role.
	c.JWTRequireRole = !c.DevMode
	r.bool("JWT_REQUIRE_ROLE", &c.JWTRequireRole)
	r.string("JWT_USER_CLAIM", &c.JWTUserClaim)
	r.string("JWT_ROLE_CLAIM", &c.JWTRoleClaim)
	if v := r.get("JWT_ROLE_VALUES"); v != "" {
		var err error
		c.JWTRoleValues, err = auth.ParseRoleValues(v)
		r.fail("JWT_ROLE_VALUES", err)
	}
}

// readVAPID reads the contact URI and the keys.
func (c *Config) readVAPID(r *envReader) {
	r.string("VAPID_SUBJECT", &c.VAPIDSubject)
	// As browsers name it (application_server_key) and webpush-go reads it;
	// Canonical leaves what does not decode alone, for Validate to report.
	c.VAPIDKeys = domain.VAPIDKeys{PublicKey: r.get("VAPID_PUBLIC_KEY"), PrivateKey: r.get("VAPID_PRIVATE_KEY")}.Canonical()
	if v := r.get("VAPID_KEY_ENCRYPTION_KEY"); v != "" {
		var err error
		c.VAPIDKeyEncryptionKey, err = keyseal.ParseKey(v)
		r.fail("VAPID_KEY_ENCRYPTION_KEY", err)
	}
}

// readPush reads where pushes may go and which origins may call the API.
func (c *Config) readPush(r *envReader) {
	if v := r.get("PUSH_ALLOWED_HOSTS"); v != "" {
		c.PushPolicy.AllowedHosts = splitList(v)
	}
	r.bool("PUSH_ALLOW_LOOPBACK", &c.PushPolicy.AllowLoopback)
	for _, o := range splitList(r.get("CORS_ALLOWED_ORIGINS")) {
		origin, ok := normalizeOrigin(o)
		if !ok {
			r.fail("CORS_ALLOWED_ORIGINS", fmt.Errorf("%q is not an origin like https://app.example.com", o))
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, origin)
	}
}

// readMessages loads the catalogue (embedded, or MESSAGES_DIR), settles the
// default language against it, and reads the links.
func (c *Config) readMessages(r *envReader) {
	r.string("DEFAULT_LOCALE", &c.DefaultLocale)
	catalog, err := messages.Load(r.get("MESSAGES_DIR"), domain.DefaultLocale)
	if err != nil {
		r.fail("MESSAGES_DIR", err)
	} else if l, ok := domain.NormalizeLocale(c.DefaultLocale); !ok || !catalog.Has(l) {
		r.fail("DEFAULT_LOCALE", errors.New("must be a language of the message catalogue: "+strings.Join(catalog.Languages(), ", ")))
	} else if catalog, err = catalog.WithFallback(l); err != nil {
		r.fail("DEFAULT_LOCALE", err)
	} else {
		c.DefaultLocale = l
		c.Messages.Catalog = catalog
	}
	for typ, t := range c.Messages.Links {
		r.string(linkVar(typ), &t)
		c.Messages.Links[typ] = t
	}
}

// linkVar is the variable that sets typ's click target.
func linkVar(typ domain.NotificationType) string { return "LINK_" + strings.ToUpper(string(typ)) }

// readOps reads the operators' credentials, side listeners and the limits.
func (c *Config) readOps(r *envReader) {
	r.string("OPS_USERNAME", &c.OpsUsername)
	r.string("OPS_PASSWORD", &c.OpsPassword)
	r.string("METRICS_ADDR", &c.MetricsAddr)
	r.string("PPROF_ADDR", &c.PprofAddr)
	r.rate("RATE_LIMIT_OPS_LOGIN", &c.OpsLoginLimit)
	r.rate("RATE_LIMIT_TEST", &c.TestLimit)
	r.rate("RATE_LIMIT_SUBSCRIBE", &c.SubscribeLimit)
	r.rate("RATE_LIMIT_CHARGING", &c.ChargingLimit)
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
