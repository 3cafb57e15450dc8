package app_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestPreferencesUseCases(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	svc := d.service(t)
	owner := domain.Principal{UserID: "u1", UserType: domain.UserTypeOwner}

	p, err := svc.SetPreferences(t.Context(), owner, "", map[string]bool{"new_session": false}, map[string]bool{"marketing": false})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"new_session": false, "session_completed": true}, p.Kinds)
	require.Equal(t, map[string]bool{"marketing": false}, p.Categories)

	_, err = svc.SetPreferences(t.Context(), owner, "", map[string]bool{"session_completed": false, "nope": false}, nil)
	require.ErrorIs(t, err, domain.ErrInvalid)
	_, err = svc.SetPreferences(t.Context(), owner, "client", map[string]bool{"charging_started": false}, nil)
	require.ErrorIs(t, err, domain.ErrForbidden)
	_, err = svc.Preferences(t.Context(), owner, "client")
	require.ErrorIs(t, err, domain.ErrForbidden)

	p, err = svc.Preferences(t.Context(), owner, "owner")
	require.NoError(t, err)
	require.True(t, p.Kinds["session_completed"], "a refused change stores nothing")
	require.False(t, p.Kinds["new_session"])
}
