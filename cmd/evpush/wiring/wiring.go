package wiring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evpower/evpush/adapters/auth"
	httpadapter "github.com/evpower/evpush/adapters/http"
	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/metrics"
	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// NewLogger builds the process logger from the config.
func NewLogger(cfg Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Options are the command-line choices of `evpush serve`.
type Options struct {
	// SkipMigrate leaves the schema alone (an operator migrates separately).
	SkipMigrate bool
	// NoWorkers runs the API only (`--api-only`): jobs are inserted here
	// and worked by other instances.
	NoWorkers bool
}

// Service is one running evpush instance's parts.
type Service struct {
	Config  Config
	Log     *slog.Logger
	Pool    *pgxpool.Pool
	DB      *sql.DB
	Store   *postgres.Store
	Queue   *queue.Queue
	Metrics *metrics.Metrics
	App     *app.Service
	Handler http.Handler
	// VAPID is the keyring: reloaded every VAPIDReloadInterval while Run
	// runs, so a rotation elsewhere reaches this instance.
	VAPID   *app.Keys
	opts    Options
	uiStart func(context.Context) error
}

// Migrate applies River's and evpush's migrations under one lock, and the
// reference charging module's tables when it is on.
func Migrate(ctx context.Context, db *sql.DB, referenceCharging bool) error {
	steps := []postgres.Step{queue.Migrate}
	if referenceCharging {
		steps = append(steps, postgres.MigrateReference)
	}
	return postgres.Migrate(ctx, db, steps...)
}

// New connects, migrates (unless told not to), settles the VAPID keys and
// assembles the service. Each adapter gets what it needs when it is built:
// the outbox and the charging store before the app, the app before the
// workers that call it. Close releases what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (_ *Service, err error) {
	s := &Service{Config: cfg, Log: log, opts: opts}
	cfg.LogWarnings(log)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	verifier, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	charging, err := referenceCharging(ctx, cfg, s.DB)
	if err != nil {
		return nil, err
	}
	s.Metrics = metrics.New(metrics.Sources{
		JobsByState: queue.JobsByState(s.DB), SubscriptionsByType: s.Store.CountByType,
		SubscriptionsByKey: s.Store.KeyUsage, Logger: log,
	})
	s.App = app.New(s.appDeps(charging))
	if s.Queue, err = queue.New(queue.Config{
		Pool: s.Pool, App: s.App, Book: s.Store, Workers: cfg.Workers,
		JobTimeout: cfg.PushTimeout + deliverySlack, RescueAfter: cfg.RescueAfter, CompletedRetention: cfg.JobRetention,
		StopTimeout: cfg.ShutdownTimeout, MaxAttempts: cfg.DeliveryMaxAttempts, RetryBase: cfg.DeliveryRetryBase,
		Logger: log,
	}); err != nil {
		return nil, err
	}
	ops, err := s.ops()
	if err != nil {
		return nil, err
	}
	var chargingAPI httpadapter.Charging
	if charging != nil {
		chargingAPI = s.App
	}
	s.Handler = httpadapter.NewHandler(httpadapter.Config{
		Notifications:  s.App,
		Charging:       chargingAPI,
		ChargingLimit:  cfg.ChargingLimit,
		Tokens:         verifier,
		CORSOrigins:    cfg.CORSOrigins,
		Ops:            ops,
		Ready:          s.readiness,
		TestLimit:      cfg.TestLimit,
		SubscribeLimit: cfg.SubscribeLimit,
		DevTokens:      devTokens(cfg, log),
		Observer:       s.Metrics,
		Logger:         log,
	})
	return s, nil
}

// open connects to the database, migrates it (unless told not to), and
// opens the store and the VAPID keyring over it.
func (s *Service) open(ctx context.Context) (err error) {
	if s.Pool, s.DB, err = postgres.Connect(ctx, s.Config.DatabaseURL); err != nil {
		return err
	}
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("error connecting to the database (DATABASE_URL): %w", err)
	}
	if !s.opts.SkipMigrate {
		if err := Migrate(ctx, s.DB, s.Config.ReferenceCharging); err != nil {
			return err
		}
	}
	storeOpts, err := storeOptions(s.Config)
	if err != nil {
		return err
	}
	if s.Store, err = postgres.NewStore(s.DB, storeOpts...); err != nil {
		return err
	}
	s.VAPID, err = vapidKeys(ctx, s.Config, s.Store, s.Log)
	return err
}

// newVerifier checks tokens as configured.
func newVerifier(cfg Config) (*auth.Verifier, error) {
	return auth.NewVerifier(auth.Config{
		Secret: cfg.JWTSecret, PublicKey: cfg.JWTPublicKey,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway,
		UserClaim: cfg.JWTUserClaim, RoleClaim: cfg.JWTRoleClaim, RoleValues: cfg.JWTRoleValues,
		AllowNoRole: !cfg.JWTRequireRole,
	})
}

// referenceCharging is the demo charging module when REFERENCE_CHARGING is
// on, else nil: its store enqueues events through an outbox of its own, in
// the transactions that write sessions. In DEV_MODE it seeds the demo
// station, so the demo page can start a session.
func referenceCharging(ctx context.Context, cfg Config, db *sql.DB) (*postgres.ChargingStore, error) {
	if !cfg.ReferenceCharging {
		return nil, nil
	}
	outbox, err := queue.NewOutbox(db)
	if err != nil {
		return nil, err
	}
	charging, err := postgres.NewChargingStore(db, outbox)
	if err != nil {
		return nil, err
	}
	if cfg.DevMode {
		if err := charging.SeedDemo(ctx); err != nil {
			return nil, err
		}
	}
	return charging, nil
}

// appDeps are the use cases' dependencies; charging may be nil (module off).
func (s *Service) appDeps(charging *postgres.ChargingStore) app.Deps {
	cfg := s.Config
	deps := app.Deps{
		Subscriptions: s.Store,
		Sender: webpush.NewSender(webpush.Config{Keys: s.VAPID, Subject: cfg.VAPIDSubject, Timeout: cfg.PushTimeout,
			AllowLoopback: cfg.PushPolicy.AllowLoopback, Concurrency: cfg.Workers}),
		Policy:                  cfg.PushPolicy,
		Keys:                    s.VAPID,
		Messages:                cfg.Messages,
		Cleanup:                 cfg.Cleanup,
		MaxSubscriptionsPerUser: cfg.MaxSubscriptionsPerUser,
		Metrics:                 s.Metrics,
		// One push per delivery worker, as before one job per device.
		MaxConcurrentSends: cfg.Workers,
		Logger:             s.Log,
	}
	if charging != nil {
		deps.Charging = charging // a nil *ChargingStore must not become a non-nil interface
	}
	return deps
}

// ops is River UI and /metrics behind the operators' credentials, or nil
// when none are set.
func (s *Service) ops() (*httpadapter.Ops, error) {
	cfg := s.Config
	if cfg.OpsUsername == "" {
		return nil, nil
	}
	ui, start, err := s.Queue.UI(httpadapter.UIPrefix, s.Log)
	if err != nil {
		return nil, err
	}
	s.uiStart = start
	ops := &httpadapter.Ops{Username: cfg.OpsUsername, Password: cfg.OpsPassword, UI: ui, LoginLimit: cfg.OpsLoginLimit}
	if cfg.MetricsAddr == "" {
		ops.Metrics = s.Metrics.Handler()
	}
	return ops, nil
}

// devTokens is the demo's sign-in in DEV_MODE, else nil.
func devTokens(cfg Config, log *slog.Logger) httpadapter.DevTokens {
	if !cfg.DevMode {
		return nil
	}
	log.Warn("DEV_MODE is on: anyone can mint tokens at /api/v1/dev/token; never use it in production")
	return auth.DevMinter{Secret: cfg.JWTSecret, TTL: 24 * time.Hour, Shape: auth.Shape{
		UserClaim: cfg.JWTUserClaim, RoleClaim: cfg.JWTRoleClaim, RoleValues: cfg.JWTRoleValues}}
}

// storeOptions are the persistence adapter's settings from cfg.
func storeOptions(cfg Config) ([]postgres.Option, error) {
	if cfg.VAPIDKeyEncryptionKey == nil {
		return nil, nil
	}
	sealer, err := keyseal.New(cfg.VAPIDKeyEncryptionKey, postgres.VAPIDKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("config: VAPID_KEY_ENCRYPTION_KEY: %w", err)
	}
	return []postgres.Option{postgres.WithVAPIDKeyEncryption(sealer)}, nil
}

// vapidKeys settles the stored keys (the configured pair is made current;
// else the stored current key stays; else a generated pair is stored, the
// first instance to store wins) and loads the keyring.
func vapidKeys(ctx context.Context, cfg Config, store *postgres.Store, log *slog.Logger) (*app.Keys, error) {
	candidate, err := domain.GenerateVAPIDKeys()
	if err != nil {
		return nil, fmt.Errorf("error generating VAPID keys: %w", err)
	}
	keys := app.NewKeys(store, cfg.VAPIDKeys, nil, log)
	if err := store.Settle(ctx, cfg.VAPIDKeys, candidate); err != nil {
		return nil, sealError(err)
	}
	if err := keys.Load(ctx); err != nil {
		return nil, sealError(err)
	}
	ring := keys.Ring()
	if cur := ring.Current(); cur.PublicKey == candidate.PublicKey {
		log.Info("generated a VAPID key pair and stored it in the database", "key_id", cur.ID, "fingerprint", cur.Fingerprint())
	}
	plain := false
	for _, k := range ring.Keys() {
		plain = plain || (!k.Configured && k.PrivateKey != "")
	}
	if plain && cfg.VAPIDKeyEncryptionKey == nil && !cfg.DevMode {
		// Anyone who can read the table (a backup, a replica, a reporting
		// role) could sign pushes to every subscriber as this service.
		log.Warn("the VAPID private key is stored in plain text in the database (table vapid_keys): " +
			"set VAPID_KEY_ENCRYPTION_KEY (e.g. openssl rand -base64 32) to encrypt it, " +
			"or VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY to keep it out of the database")
	}
	return keys, nil
}

// sealError explains a stored private key that does not open.
func sealError(err error) error {
	switch {
	case errors.Is(err, keyseal.ErrNoKey):
		return errors.New("the stored VAPID private key (table vapid_keys) is encrypted and " +
			"VAPID_KEY_ENCRYPTION_KEY is not set: set it to the key it was encrypted with")
	case errors.Is(err, keyseal.ErrWrongKey), errors.Is(err, keyseal.ErrMalformed):
		return errors.New("VAPID_KEY_ENCRYPTION_KEY does not decrypt the stored VAPID private key " +
			"(table vapid_keys): set the key it was encrypted with; if that key is lost, the VAPID keys must be " +
			"rotated (README, \"VAPID key encryption\")")
	}
	return err
}

// readiness checks what the service needs to do its job: the database
// answers, its migrations are applied, and (unless API-only) the workers run.
func (s *Service) readiness(ctx context.Context) map[string]string {
	checks := map[string]string{"database": "ok", "migrations": "ok", "workers": "ok"}
	if err := s.Store.Ping(ctx); err != nil {
		checks["database"] = "unreachable"
		checks["migrations"] = "unknown"
	} else if pending, err := postgres.HasPending(ctx, s.DB); err != nil || pending {
		checks["migrations"] = "pending"
	}
	switch {
	case s.opts.NoWorkers:
		checks["workers"] = "disabled"
	case !s.Queue.Running():
		checks["workers"] = "stopped"
	}
	return checks
}

// CurrentKey is the key pair this instance serves and binds new
// subscriptions to, as last reloaded.
func (s *Service) CurrentKey() domain.VAPIDKeys { return s.VAPID.Ring().Current().VAPIDKeys }

// Close releases the database pool.
func (s *Service) Close() {
	if s.DB != nil {
		_ = s.DB.Close()
	}
	if s.Pool != nil {
		s.Pool.Close()
	}
}

// HTTP server limits: slow clients cannot hold connections open forever.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 60 * time.Second // /test waits for push services
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Run works jobs (unless NoWorkers) and answers HTTP on ln (unless nil)
// until ctx is cancelled. Then it stops taking requests, drains those in
// flight, and lets running jobs finish, all within ShutdownTimeout; jobs still
// running then are cancelled and River retries them later: none is lost.
func (s *Service) Run(ctx context.Context, ln net.Listener) error {
	// Background work gets a context of its own: Run stops it in order,
	// after HTTP has drained, not the moment ctx is cancelled.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if !s.opts.NoWorkers {
		if err := s.Queue.Start(bg); err != nil {
			return fmt.Errorf("error starting workers: %w", err)
		}
		// The id River records in each job this process works (River UI's
		// "attempted by"), to tell instances apart.
		s.Log.Info("workers started", "client_id", s.Queue.ClientID())
	}
	// Every instance, API or workers: each serves or signs with the keys.
	go s.VAPID.Run(bg, s.Config.VAPIDReloadInterval)
	if s.uiStart != nil {
		if err := s.uiStart(bg); err != nil {
			return fmt.Errorf("error starting River UI: %w", err)
		}
	}
	errc := make(chan error, 3)
	var servers []*http.Server
	serve := func(h http.Handler, l net.Listener) {
		srv := newHTTPServer(h, s.Log)
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(l) }()
	}
	if ln != nil {
		serve(s.Handler, ln)
	}
	side := func(name, addr string, mux *http.ServeMux) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("error listening on %s: %w", name, err)
		}
		serve(mux, l)
		s.Log.Info("serving "+name, "addr", l.Addr().String())
		return nil
	}
	if s.Config.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", httpadapter.OpsHeaders(s.Metrics.Handler()))
		if err := side("METRICS_ADDR", s.Config.MetricsAddr, mux); err != nil {
			return err
		}
	}
	if s.Config.PprofAddr != "" {
		// Profiling for operators and the benchmark harness; never public.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/goroutine", pprof.Handler("goroutine"))
		if err := side("PPROF_ADDR", s.Config.PprofAddr, mux); err != nil {
			return err
		}
	}
	var runErr error
	select {
	case runErr = <-errc:
	case <-ctx.Done():
		s.Log.Info("shutting down", "timeout", s.Config.ShutdownTimeout)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(stopCtx); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("error draining HTTP requests: %w", err))
		}
	}
	if !s.opts.NoWorkers {
		if err := s.Queue.Stop(stopCtx); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("error stopping workers: %w", err))
		}
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
