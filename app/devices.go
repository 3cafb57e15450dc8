package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/evpower/evpush/domain"
)

// Devices lists the caller's subscriptions in every role, oldest first: one
// person's phones and laptops, whichever role each was subscribed in.
func (s *Service) Devices(ctx context.Context, caller domain.Principal) ([]domain.Subscription, error) {
	subs, err := s.subs.ListByUser(ctx, caller.UserID)
	if err != nil {
		return nil, fmt.Errorf("error listing subscriptions: %w", err)
	}
	return subs, nil
}

// RemoveDevice deletes one of the caller's subscriptions by id. Another
// user's id is domain.ErrNotFound exactly like an unknown one, so ids cannot
// be probed.
func (s *Service) RemoveDevice(ctx context.Context, caller domain.Principal, id string) error {
	err := s.subs.DeleteByIDForUser(ctx, caller.UserID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Errorf(domain.ErrNotFound, "Push subscription not found")
	}
	if err != nil {
		return fmt.Errorf("error deleting subscription: %w", err)
	}
	return nil
}
