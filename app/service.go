// Package app holds evpush's use cases. It depends on domain and ports only,
// so every use case runs in unit tests against fakes of the ports.
package app

import (
	"cmp"
	"context"
	"log/slog"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Service runs the notification use cases.
type Service struct {
	subs          ports.SubscriptionStore
	charging      ports.ChargingStore
	sender        ports.PushSender
	clock         ports.Clock
	policy        domain.EndpointPolicy
	keys          *Keys
	messages      domain.Messages
	defaultLocale string
	metrics       ports.Metrics
	cleanup       CleanupPolicy
	maxSubs       int
	log           *slog.Logger
	// sendSlots bounds the pushes in flight in this process, over all
	// events being worked.
	sendSlots chan struct{}
}

// Deps are what Service needs. Subscriptions, Sender, Policy and Keys are
// required, and Messages by every use case that renders a notification;
// every other field may be left zero (its comment says what that means).
type Deps struct {
	Subscriptions ports.SubscriptionStore
	// Charging backs the reference charging flow (REFERENCE_CHARGING) only;
	// nil without it.
	Charging ports.ChargingStore
	Sender   ports.PushSender
	Policy   domain.EndpointPolicy
	// Keys are the VAPID keys: the current one browsers subscribe with,
	// each subscription's own to sign with, and the secret of the decoy
	// subscription ids (DecoySubscriptionID), the same on every instance.
	// Loaded (Keys.Load) before the service is used.
	Keys *Keys
	// Messages renders notifications: the catalogue's texts and the link
	// templates. Its catalogue's fallback language is the default locale.
	Messages domain.Messages
	// MaxSubscriptionsPerUser caps a user's devices; past it the least
	// recently subscribed one is replaced. Zero: no cap.
	MaxSubscriptionsPerUser int
	// Cleanup says when a failing subscription is given up on; a zero field
	// takes its default (CleanupPolicy).
	Cleanup CleanupPolicy
	// Metrics records push outcomes; nil records nothing.
	Metrics ports.Metrics
	// MaxConcurrentSends bounds the pushes in flight in this process; zero
	// means DefaultMaxConcurrentSends.
	MaxConcurrentSends int
	// Clock is the time source; nil is the system clock.
	Clock ports.Clock
	// Logger is for what the use cases log; nil is slog.Default().
	Logger *slog.Logger
}

// New returns a Service.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = ports.SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = ports.NopMetrics{}
	}
	s := &Service{
		subs:      d.Subscriptions,
		charging:  d.Charging,
		sender:    d.Sender,
		clock:     d.Clock,
		policy:    d.Policy,
		keys:      d.Keys,
		messages:  d.Messages,
		metrics:   d.Metrics,
		cleanup:   d.Cleanup,
		maxSubs:   d.MaxSubscriptionsPerUser,
		log:       d.Logger,
		sendSlots: make(chan struct{}, cmp.Or(d.MaxConcurrentSends, DefaultMaxConcurrentSends)),
	}
	if d.Messages.Catalog != nil { // nil in tests of use cases that render nothing
		s.defaultLocale = d.Messages.Catalog.Fallback()
	}
	return s
}

// PublicKey returns the VAPID public key browsers pass to
// pushManager.subscribe: the current key, as last reloaded.
func (s *Service) PublicKey() string { return s.keys.Ring().Current().PublicKey }

// locale is the language to write to sub in.
func (s *Service) locale(sub domain.Subscription) string {
	return cmp.Or(sub.Locale, s.defaultLocale)
}

type loggerKey struct{}

// WithLogger returns a context whose use cases log through l: a worker
// passes one carrying its job id and kind.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// logger is the context's logger, else the service's.
func (s *Service) logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return s.log
}
