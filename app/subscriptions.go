package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/evpower/evpush/domain"
)

// SubscribeResult says which subscription the device now has.
type SubscribeResult struct {
	SubscriptionID string
	Created        bool // false: the endpoint was known and has been updated in place
}

// Subscribe registers a browser's push subscription for the caller. A known
// endpoint is updated in place: the caller's own (new keys after a browser
// rotated them), or another user's when the caller sends its keys (the same
// browser profile, signed in as someone else), which moves it to the caller.
// Anyone else gets the answer of a new subscription, with a decoy id, and the
// device stays with its owner: knowing an endpoint is not owning it, and the
// answer must not tell whether the endpoint exists.
func (s *Service) Subscribe(ctx context.Context, caller domain.Principal, in domain.SubscriptionInput) (SubscribeResult, error) {
	sub, err := domain.NewSubscriptionFor(caller, in, s.policy)
	if err != nil {
		return SubscribeResult{}, err
	}
	if sub.VAPIDKeyID, err = s.subscriptionKey(ctx, sub); err != nil {
		return SubscribeResult{}, err
	}
	// A browser that re-subscribes gets a new endpoint and its old one
	// lingers until a push fails: the cap bounds what one account can make
	// the service send, replacing the stalest device.
	stored, created, err := s.subs.Upsert(ctx, sub, s.maxSubs)
	if errors.Is(err, domain.ErrEndpointTaken) {
		// Worth an operator's eye: a client sending someone else's endpoint
		// is a bug or an attack.
		s.logger(ctx).WarnContext(ctx, "subscribe refused: endpoint held by another user with other keys",
			"user_id", caller.UserID, "endpoint", domain.EndpointLabel(sub.Endpoint))
		decoy := domain.DecoySubscriptionID(s.keys.Ring().DecoySecret(), sub.Endpoint, sub.UserID, sub.UserType)
		return SubscribeResult{SubscriptionID: decoy, Created: true}, nil
	}
	if err != nil {
		return SubscribeResult{}, fmt.Errorf("error storing subscription: %w", err)
	}
	return SubscribeResult{SubscriptionID: stored.ID, Created: created}, nil
}

// subscriptionKey is the VAPID key a new subscription is bound to: the one
// the browser says it subscribed with, when it says so, else the current
// one. A retiring key is fine (even a revoked one: the device hears nothing
// until it moves, which the client script does next); a key this service
// does not know is refused, since every push signed for it would be.
func (s *Service) subscriptionKey(ctx context.Context, sub domain.Subscription) (int, error) {
	named := sub.ApplicationServerKey()
	if named == "" {
		return s.keys.Ring().Current().ID, nil
	}
	key, ok, err := s.keys.ByPublicKey(ctx, named)
	if err != nil {
		return 0, fmt.Errorf("error looking up the application server key: %w", err)
	}
	if !ok {
		return 0, domain.Invalid(domain.FieldApplicationServerKey,
			"is not a VAPID key of this service: subscribe with the key GET /vapid-public-key returns")
	}
	return key.ID, nil
}

// Unsubscribe removes the caller's subscription for endpoint. removed is false
// when there is none: another user's endpoint is answered exactly like an
// unknown one, so nobody can probe which endpoints exist.
func (s *Service) Unsubscribe(ctx context.Context, caller domain.Principal, endpoint string) (removed bool, err error) {
	switch {
	case endpoint == "":
		return false, domain.Invalid("endpoint", "is required")
	case len(endpoint) > domain.MaxEndpointLength:
		return false, domain.Invalid("endpoint", "must be at most 2048 bytes")
	}
	// Stored endpoints are canonical (see EndpointPolicy.Normalize), so the
	// one sent back is made canonical the same way. A row stored before
	// endpoints were normalised may still hold the raw form: that is tried
	// second, only when it differs.
	canonical := domain.CanonicalEndpoint(endpoint)
	err = s.subs.DeleteForUser(ctx, caller.UserID, canonical)
	if errors.Is(err, domain.ErrNotFound) && canonical != endpoint {
		err = s.subs.DeleteForUser(ctx, caller.UserID, endpoint)
	}
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error deleting subscription: %w", err)
	}
	return true, nil
}
