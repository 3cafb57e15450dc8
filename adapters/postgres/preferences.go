package postgres

import (
	"context"
	"fmt"

	"github.com/evpower/evpush/domain"
)

// Preferences implements ports.SubscriptionStore.
func (s *Store) Preferences(ctx context.Context, userID string, role domain.UserType) ([]domain.PrefSetting, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT class, name, enabled FROM notification_preferences
		WHERE user_id = $1 AND user_type = $2`, userID, string(role))
	if err != nil {
		return nil, fmt.Errorf("error reading preferences: %w", translate(err))
	}
	defer rows.Close()
	var out []domain.PrefSetting
	for rows.Next() {
		var set domain.PrefSetting
		if err := rows.Scan(&set.Pref.Class, &set.Pref.Name, &set.Enabled); err != nil {
			return nil, fmt.Errorf("error reading preferences: %w", translate(err))
		}
		out = append(out, set)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading preferences: %w", translate(err))
	}
	return out, nil
}

// SetPreferences implements ports.SubscriptionStore: one statement for all
// the settings, so a change is stored whole or not at all.
func (s *Store) SetPreferences(ctx context.Context, userID string, role domain.UserType, set []domain.PrefSetting) error {
	if len(set) == 0 {
		return nil
	}
	classes, names, enabled := make([]string, len(set)), make([]string, len(set)), make([]bool, len(set))
	for i, st := range set {
		classes[i], names[i], enabled[i] = string(st.Pref.Class), st.Pref.Name, st.Enabled
	}
	_, err := s.sql.ExecContext(ctx, `INSERT INTO notification_preferences (user_id, user_type, class, name, enabled)
		SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bool[])
		ON CONFLICT (user_id, user_type, class, name) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()`,
		userID, string(role), classes, names, enabled)
	if err != nil {
		return fmt.Errorf("error storing preferences: %w", translate(err))
	}
	return nil
}
