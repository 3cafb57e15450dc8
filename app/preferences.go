package app

import (
	"context"
	"fmt"

	"github.com/evpower/evpush/domain"
)

// Preferences returns what the caller hears in a role: the one asked for
// ("" for the token's), which must be the token's own (domain.ErrForbidden
// otherwise, as for subscribing).
func (s *Service) Preferences(ctx context.Context, caller domain.Principal, userType string) (domain.Preferences, error) {
	role, err := domain.PreferenceRole(caller, userType)
	if err != nil {
		return domain.Preferences{}, err
	}
	return s.preferences(ctx, caller.UserID, role)
}

// SetPreferences switches the kinds and categories the change names, in
// the role it names ("" for the token's), and returns all the preferences
// after it. Unknown kinds and malformed categories are a
// *domain.ValidationError naming each, and nothing is stored.
func (s *Service) SetPreferences(ctx context.Context, caller domain.Principal, userType string,
	kinds, categories map[string]bool) (domain.Preferences, error) {
	role, err := domain.PreferenceRole(caller, userType)
	if err != nil {
		return domain.Preferences{}, err
	}
	set, err := domain.PreferenceChange{UserType: role, Kinds: kinds, Categories: categories}.Settings()
	if err != nil {
		return domain.Preferences{}, err
	}
	if err := s.subs.SetPreferences(ctx, caller.UserID, role, set); err != nil {
		return domain.Preferences{}, fmt.Errorf("error storing preferences: %w", err)
	}
	return s.preferences(ctx, caller.UserID, role)
}

func (s *Service) preferences(ctx context.Context, userID string, role domain.UserType) (domain.Preferences, error) {
	set, err := s.subs.Preferences(ctx, userID, role)
	if err != nil {
		return domain.Preferences{}, fmt.Errorf("error reading preferences: %w", err)
	}
	return domain.NewPreferences(role, set), nil
}
