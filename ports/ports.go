// Package ports declares the interfaces the core (app) needs from the outside
// world. The core owns them; adapters implement them.
package ports

import (
	"context"
	"time"

	"github.com/evpower/evpush/domain"
)

// SubscriptionStore keeps push subscriptions. Methods return
// domain.ErrUnavailable (wrapped) when the database cannot be reached.
type SubscriptionStore interface {
	// Upsert stores s, keyed by its endpoint. A known endpoint is updated in
	// place (keys, owner, role, locale) and keeps its ID when s has the same
	// owner and role, or the same keys as the stored one (the same browser
	// profile, now someone else's); created says which happened. Otherwise
	// nothing is written and the error is domain.ErrEndpointTaken. The
	// returned subscription carries the ID. maxPerUser caps the user's
	// devices (every role counted; 0: no cap): when s was stored, the user's
	// other subscriptions beyond maxPerUser-1 are deleted, least recently
	// updated first, in the same statement. A VAPIDKeyID the store does not
	// hold (deleted meanwhile) is a *domain.ValidationError on
	// domain.FieldApplicationServerKey.
	Upsert(ctx context.Context, s domain.Subscription, maxPerUser int) (stored domain.Subscription, created bool, err error)
	// DeleteForUser removes the subscription with this endpoint if userID owns
	// it; it returns domain.ErrNotFound otherwise (unknown and foreign alike).
	DeleteForUser(ctx context.Context, userID, endpoint string) error
	// DeleteByIDForUser removes the subscription with this id if userID owns
	// it; it returns domain.ErrNotFound otherwise (unknown, malformed and
	// foreign ids alike, so an id tells nothing about other users).
	DeleteByIDForUser(ctx context.Context, userID, id string) error
	// ListByUser returns the user's subscriptions, oldest first.
	ListByUser(ctx context.Context, userID string) ([]domain.Subscription, error)
	// ListForRecipients returns the subscriptions of each recipient in its
	// role (a user's client devices, another's owner devices), in one query
	// that also leaves out the devices of a recipient who switched its Pref
	// off in that role; skipped has that recipient once per device left out.
	ListForRecipients(ctx context.Context, rs []domain.Recipient) (subs []domain.Subscription, skipped []domain.Recipient, err error)
	// Preferences returns what the user set in role, kinds and categories,
	// in no particular order; nothing set is no settings.
	Preferences(ctx context.Context, userID string, role domain.UserType) ([]domain.PrefSetting, error)
	// SetPreferences stores each setting of the user in role, in place of
	// any earlier one for the same Pref; the others stay as they are.
	SetPreferences(ctx context.Context, userID string, role domain.UserType, set []domain.PrefSetting) error
	// Get returns one subscription, or domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Subscription, error)
	// Delete removes a subscription by ID if it still has this endpoint (a
	// re-subscribe in the meantime keeps its row); missing is not an error.
	Delete(ctx context.Context, id, endpoint string) error
	// RecordResult notes a delivery attempt: success resets the failure count
	// and sets last_success_at, failure increments the count.
	RecordResult(ctx context.Context, id string, success bool, at time.Time) error
	// DeleteFailing removes subscriptions with at least minFailures
	// consecutive failures and no success (or creation) since before; it
	// returns how many.
	DeleteFailing(ctx context.Context, before time.Time, minFailures int) (int, error)
}

// ChargingStore keeps stations and charging sessions: the reference
// charging module's tables (REFERENCE_CHARGING), never read otherwise.
type ChargingStore interface {
	// InTx runs fn in one database transaction: everything fn writes through
	// tx, session rows and enqueued events alike, commits or rolls back
	// together. fn's error rolls back and is returned.
	InTx(ctx context.Context, fn func(tx ChargingTx) error) error
}

// ChargingTx is the part of ChargingStore that works inside InTx.
type ChargingTx interface {
	// Station returns a station, or domain.ErrNotFound.
	Station(ctx context.Context, id string) (domain.Station, error)
	// CreateSession inserts an active session and returns it with its ID and
	// start time; domain.ErrConflict when the connector already has one.
	CreateSession(ctx context.Context, s domain.ChargingSession) (domain.ChargingSession, error)
	// LockSession returns a session locked until the transaction ends, or
	// domain.ErrNotFound.
	LockSession(ctx context.Context, id string) (domain.ChargingSession, error)
	// CompleteSession stores the energy, amount and stop time of s.
	CompleteSession(ctx context.Context, s domain.ChargingSession) error
	// Enqueue adds the event to the durable outbox in this transaction: it is
	// delivered if and only if the transaction commits.
	Enqueue(ctx context.Context, ev domain.ChargingEvent) error
}

// PushSender delivers one notification to one subscription now, signed with
// the subscription's own VAPID key (Subscription.VAPIDKeyID). It classifies
// every answer into result.Outcome; err is non-nil when no acceptable answer
// came back (network error, timeout, payload that cannot be encrypted), and
// then result.Outcome is OutcomeTransient or OutcomeRejected. When the key
// may not sign, nothing is sent: OutcomeWithheld, err nil.
type PushSender interface {
	Send(ctx context.Context, sub domain.Subscription, n domain.Notification) (result domain.PushResult, err error)
}

// VAPIDKeyStore keeps the service's VAPID key pairs: one current, any
// number retiring. How private keys are kept at rest (e.g. encrypted) is the
// adapter's business: they are returned usable, or not at all. Methods that
// change keys take turns across processes.
type VAPIDKeyStore interface {
	// Settle makes sure, at start-up, that there is a current key:
	// configured when set (its public half is stored, never its private
	// half, and it is made current: the configuration is authoritative),
	// else the stored current key, else candidate, stored. It also settles
	// the keys of before key rotation existed (see migration 0003). It
	// returns domain.ErrNoCurrentKey (wrapped) when the current key is a
	// configured one and configured is not set.
	Settle(ctx context.Context, configured, candidate domain.VAPIDKeys) error
	// Keys returns every stored key, private keys opened; a configured key
	// (not stored) and a revoked one (it never signs again) have none.
	Keys(ctx context.Context) ([]domain.VAPIDKey, error)
	// Rotate stores next as the current key and turns the current one
	// retiring, and revoked (it stops signing) when revoke is set. Unless
	// revoke, the current key's private key must open with the adapter's
	// settings, or the new one would be stored where the running services
	// cannot read it; with revoke, every other retiring key whose private
	// key does not open is revoked too (the encryption key was lost).
	Rotate(ctx context.Context, next domain.VAPIDKeys, revoke bool) (domain.Rotation, error)
	// KeyUsage lists every key (the placeholder of migration 0003 too,
	// until settled), by ID, without private keys, with the subscriptions
	// each holds.
	KeyUsage(ctx context.Context) ([]domain.KeyUsage, error)
	// DeleteRetired deletes each retiring key that no subscription holds
	// any more, and each retiring since before `before` together with the
	// subscriptions it still holds; it returns what it deleted.
	DeleteRetired(ctx context.Context, before time.Time) ([]domain.RetiredKey, error)
}

// TokenVerifier turns a bearer token into the caller. Errors unwrap to
// domain.ErrUnauthenticated.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (domain.Principal, error)
}

// Metrics records what operators watch. Implementations must be cheap and
// safe for concurrent use.
type Metrics interface {
	// ObservePush records one push request: its outcome and round trip,
	// by push service (never by host, which subscribers choose).
	ObservePush(service domain.PushService, outcome domain.Outcome, roundTrip time.Duration)
	// ObserveCommitToDelivery records how long an event took from its
	// commit to a push service accepting it.
	ObserveCommitToDelivery(d time.Duration)
	// CountEventWithoutOwner records a charging event that named no
	// station owner, whose owner therefore heard nothing.
	CountEventWithoutOwner(kind domain.EventKind)
	// CountSkippedByPreference records a notification not sent to a device
	// because its user switched pref off; a category counts as "category"
	// (categories are named by producers, kinds are a closed set).
	CountSkippedByPreference(pref domain.Pref)
}

// NopMetrics records nothing.
type NopMetrics struct{}

// ObservePush does nothing.
func (NopMetrics) ObservePush(domain.PushService, domain.Outcome, time.Duration) {}

// ObserveCommitToDelivery does nothing.
func (NopMetrics) ObserveCommitToDelivery(time.Duration) {}

// CountEventWithoutOwner does nothing.
func (NopMetrics) CountEventWithoutOwner(domain.EventKind) {}

// CountSkippedByPreference does nothing.
func (NopMetrics) CountSkippedByPreference(domain.Pref) {}

// Clock is the time source, injected so tests control it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
