package app

import (
	"context"
	"fmt"
	"time"
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
}

// Defaults of CleanupPolicy.
const (
	DefaultCleanupAfter       = 30 * 24 * time.Hour
	DefaultCleanupMinFailures = 5
)

// CleanupSubscriptions removes the subscriptions the policy gives up on and
// returns how many. A zero policy uses the defaults.
func (s *Service) CleanupSubscriptions(ctx context.Context) (int, error) {
	p := s.cleanup
	if p.After <= 0 {
		p.After = DefaultCleanupAfter
	}
	if p.MinFailures <= 0 {
		p.MinFailures = DefaultCleanupMinFailures
	}
	n, err := s.subs.DeleteFailing(ctx, s.clock.Now().Add(-p.After), p.MinFailures)
	if err != nil {
		return 0, fmt.Errorf("error cleaning up subscriptions: %w", err)
	}
	return n, nil
}
