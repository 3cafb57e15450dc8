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
// endpoint is updated in place and moves to the caller: a device belongs to
// whoever subscribed on it last.
func (s *Service) Subscribe(ctx context.Context, caller domain.Principal, in domain.SubscriptionInput) (SubscribeResult, error) {
	in.UserID = caller.UserID
	sub, err := domain.NewSubscription(in, s.policy)
	if err != nil {
		return SubscribeResult{}, err
	}
	if !caller.MayActAs(sub.UserType) {
		return SubscribeResult{}, domain.Errorf(domain.ErrForbidden, "this token may not subscribe as %q", sub.UserType)
	}
	// A browser that re-subscribes gets a new endpoint and its old one
	// lingers until a push fails: the cap bounds what one account can make
	// the service send, replacing the stalest device.
	stored, created, err := s.subs.Upsert(ctx, sub, s.maxSubs)
	if err != nil {
		return SubscribeResult{}, fmt.Errorf("error storing subscription: %w", err)
	}
	return SubscribeResult{SubscriptionID: stored.ID, Created: created}, nil
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
	err = s.subs.DeleteForUser(ctx, caller.UserID, endpoint)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error deleting subscription: %w", err)
	}
	return true, nil
}
