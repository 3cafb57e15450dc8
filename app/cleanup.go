package app

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/evpower/evpush/domain"
)

// CleanupPolicy says when a subscription that keeps failing is removed.
// Devices that are gone answer 404/410 and are removed at once; this catches
// the rest: a push service that keeps rejecting (e.g. a VAPID key mismatch
// after a key change) or never answers.
type CleanupPolicy struct {
	// After is how long without a success (since creation, if none ever).
	After time.Duration
	// MinFailures is how many consecutive failures at least.
	MinFailures int
	// RetireAfter is how long a retiring VAPID key keeps the subscriptions
	// that have not moved to the current key; then they are deleted with it.
	RetireAfter time.Duration
}

// Defaults of CleanupPolicy.
const (
	DefaultCleanupAfter       = 30 * 24 * time.Hour
	DefaultCleanupMinFailures = 5
	DefaultRetireAfter        = 90 * 24 * time.Hour
)

// WithDefaults returns p with every unset field at its default: the one
// place they are applied (the use cases here and evpush's configuration).
func (p CleanupPolicy) WithDefaults() CleanupPolicy {
	if p.After <= 0 {
		p.After = DefaultCleanupAfter
	}
	if p.MinFailures <= 0 {
		p.MinFailures = DefaultCleanupMinFailures
	}
	p.RetireAfter = cmp.Or(p.RetireAfter, DefaultRetireAfter)
	return p
}

// CleanupSubscriptions removes the subscriptions the policy gives up on and
// returns how many; then it retires VAPID keys (RetireVAPIDKeys). A zero
// policy uses the defaults.
func (s *Service) CleanupSubscriptions(ctx context.Context) (int, error) {
	p := s.cleanup.WithDefaults()
	n, err := s.subs.DeleteFailing(ctx, s.clock.Now().Add(-p.After), p.MinFailures)
	if err != nil {
		return 0, fmt.Errorf("error cleaning up subscriptions: %w", err)
	}
	if _, err := s.RetireVAPIDKeys(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// RetireVAPIDKeys deletes the retiring VAPID keys no subscription holds any
// more, and those retiring for longer than RetireAfter together with the
// subscriptions still on them (their devices did not come back to the PWA
// in all that time), logging each with its count.
func (s *Service) RetireVAPIDKeys(ctx context.Context) ([]domain.RetiredKey, error) {
	if s.keys == nil {
		return nil, nil
	}
	after := s.cleanup.WithDefaults().RetireAfter
	retired, err := s.keys.store.DeleteRetired(ctx, s.clock.Now().Add(-after))
	if err != nil {
		return nil, fmt.Errorf("error retiring VAPID keys: %w", err)
	}
	for _, r := range retired {
		log := s.logger(ctx).With("key_id", r.Key.ID, "fingerprint", r.Key.Fingerprint(),
			"retiring_since", r.Key.RetiringSince, "subscriptions_deleted", r.Subscriptions)
		if r.Subscriptions > 0 {
			log.Warn("retired VAPID key deleted with the subscriptions that never moved to the current key",
				"retire_after", after)
		} else {
			log.Info("retired VAPID key deleted: no subscription holds it any more")
		}
	}
	return retired, nil
}
