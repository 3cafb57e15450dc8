// Package http is the REST adapter: the gin router, DTOs, JWT middleware and
// the one error→status mapper.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Notifications is what the handlers need from the app layer.
type Notifications interface {
	PublicKey() string
	Subscribe(ctx context.Context, caller domain.Principal, in domain.SubscriptionInput) (app.SubscribeResult, error)
	Unsubscribe(ctx context.Context, caller domain.Principal, endpoint string) (bool, error)
	SendTest(ctx context.Context, caller domain.Principal) (app.TestReport, error)
	Devices(ctx context.Context, caller domain.Principal) ([]domain.Subscription, error)
	RemoveDevice(ctx context.Context, caller domain.Principal, id string) error
	Preferences(ctx context.Context, caller domain.Principal, userType string) (domain.Preferences, error)
	SetPreferences(ctx context.Context, caller domain.Principal, userType string, kinds, categories map[string]bool) (domain.Preferences, error)
}

// Charging is the reference charging flow, for the charging endpoints.
type Charging interface {
	StartSession(ctx context.Context, caller domain.Principal, stationID string, connectorID int) (domain.ChargingSession, error)
	StopSession(ctx context.Context, caller domain.Principal, sessionID string, energyKWh float64) (domain.ChargingSession, error)
}

// Config wires the router.
type Config struct {
	Notifications Notifications
	// Charging, when set, serves the reference charging endpoints.
	Charging Charging
	Tokens   ports.TokenVerifier
	// CORSOrigins lists origins allowed to call the API from another site;
	// empty means same origin only ("*" allows any).
	CORSOrigins []string
	// Ops, when set, mounts River UI (and metrics) behind credentials; nil
	// leaves those routes answering 404.
	Ops *Ops
	// Ready backs /readyz.
	Ready Readiness
	// TestLimit, SubscribeLimit and ChargingLimit bound how often one user
	// may call /test, /subscribe and the charging endpoints (zero: unlimited).
	TestLimit, SubscribeLimit, ChargingLimit RateLimit
	// DevTokens, when set (DEV_MODE), serves POST /api/v1/dev/token.
	DevTokens DevTokens
	// Observer records HTTP metrics; nil records nothing.
	Observer HTTPObserver
	Logger   *slog.Logger
}

type server struct {
	app       Notifications
	charging  Charging
	tokens    ports.TokenVerifier
	ready     Readiness
	observer  HTTPObserver
	devTokens DevTokens
	log       *slog.Logger
}

func init() { gin.SetMode(gin.ReleaseMode) }

// NewHandler returns the service's HTTP handler.
func NewHandler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &server{app: cfg.Notifications, charging: cfg.Charging, tokens: cfg.Tokens,
		ready: cfg.Ready, observer: cfg.Observer, devTokens: cfg.DevTokens, log: log}
	if s.ready == nil {
		s.ready = func(context.Context) map[string]string { return map[string]string{} }
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Trust no proxy: ClientIP is the TCP peer, never a header that a client
	// sets as it likes (the operators' login throttle counts per address).
	_ = r.SetTrustedProxies(nil) // nil has nothing to parse: it cannot fail
	r.Use(s.requestLog(), s.recover(), keepOpsHeaders())
	if len(cfg.CORSOrigins) > 0 {
		r.Use(corsMiddleware(cfg.CORSOrigins))
	}
	r.NoRoute(s.handle(func(*gin.Context) error { return domain.ErrNotFound }))
	r.NoMethod(s.handle(func(*gin.Context) error { return errMethodNotAllowed }))

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.json", s.openAPI)
	mountWeb(r)
	if cfg.DevTokens != nil {
		r.POST("/api/v1/dev/token", s.limitBody(), s.handle(s.devToken))
	}
	if cfg.Ops != nil {
		mountOps(r, s.log, *cfg.Ops)
	}

	n := r.Group("/api/v1/notifications")
	n.GET("/vapid-public-key", s.vapidPublicKey)
	authed := n.Group("", s.authenticate(), s.limitBody())
	authed.POST("/subscribe", s.rateLimit(newLimiter(cfg.SubscribeLimit)), s.handle(s.subscribe))
	authed.POST("/unsubscribe", s.handle(s.unsubscribe))
	authed.POST("/test", s.rateLimit(newLimiter(cfg.TestLimit)), s.handle(s.sendTest))
	authed.GET("/subscriptions", s.handle(s.listDevices))
	authed.DELETE("/subscriptions/:id", s.handle(s.removeDevice))
	authed.GET("/preferences", s.handle(s.getPreferences))
	authed.PUT("/preferences", s.handle(s.putPreferences))

	if cfg.Charging != nil {
		// The demo module (REFERENCE_CHARGING): drivers only, and one limit
		// for starts and stops together, since each start notifies devices.
		ch := r.Group("/api/v1/charging", s.authenticate(), s.requireRole(domain.UserTypeClient), s.limitBody(),
			s.rateLimit(newLimiter(cfg.ChargingLimit)))
		ch.POST("/start", s.handle(s.startCharging))
		ch.POST("/stop", s.handle(s.stopCharging))
	}
	return withOpsHeaders(r)
}

func corsMiddleware(origins []string) gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions},
		AllowHeaders: []string{"Authorization", "Content-Type", "X-Request-ID"},
		MaxAge:       12 * time.Hour,
	}
	for _, o := range origins {
		if o == "*" {
			cfg.AllowAllOrigins = true
		}
	}
	if !cfg.AllowAllOrigins {
		cfg.AllowOrigins = origins
	}
	return cors.New(cfg)
}
