package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestValidCategory(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"marketing", "news.daily", "a", "x-1_2", "0123456789012345678901234567890123456789012345678901234567890123"} {
		require.True(t, domain.ValidCategory(ok), ok)
	}
	for _, bad := range []string{"", "Marketing", "with space", "ümlaut", "a/b", "01234567890123456789012345678901234567890123456789012345678901234"} {
		require.False(t, domain.ValidCategory(bad), bad)
	}
}

func TestNewPreferences(t *testing.T) {
	t.Parallel()
	p := domain.NewPreferences(domain.UserTypeOwner, []domain.PrefSetting{
		{Pref: domain.KindPref(domain.TypeNewSession), Enabled: false},
		{Pref: domain.KindPref(domain.TypeChargingStarted), Enabled: false}, // not an owner's kind
		{Pref: domain.Pref{Class: domain.PrefCategory, Name: "marketing"}, Enabled: false},
	})
	require.Equal(t, domain.Preferences{
		UserType:   domain.UserTypeOwner,
		Kinds:      map[string]bool{"new_session": false, "session_completed": true},
		Categories: map[string]bool{"marketing": false},
	}, p)
	require.Equal(t, map[string]bool{"charging_started": true, "charging_completed": true},
		domain.NewPreferences(domain.UserTypeClient, nil).Kinds, "every kind on by default")
}

func TestPreferenceChangeSettings(t *testing.T) {
	t.Parallel()
	set, err := domain.PreferenceChange{UserType: domain.UserTypeClient,
		Kinds: map[string]bool{"charging_started": false}, Categories: map[string]bool{"marketing": true}}.Settings()
	require.NoError(t, err)
	require.Equal(t, []domain.PrefSetting{
		{Pref: domain.KindPref(domain.TypeChargingStarted), Enabled: false},
		{Pref: domain.Pref{Class: domain.PrefCategory, Name: "marketing"}, Enabled: true},
	}, set)

	_, err = domain.PreferenceChange{UserType: domain.UserTypeClient,
		Kinds:      map[string]bool{"new_session": false, "zzz": true, "charging_completed": true},
		Categories: map[string]bool{"Bad": false}}.Settings()
	var verr *domain.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, []domain.FieldError{
		{Field: "kinds.new_session", Message: "unknown notification kind"},
		{Field: "kinds.zzz", Message: "unknown notification kind"},
		{Field: "categories.Bad", Message: "must be 1 to 64 characters of a-z, 0-9, _, . and -"},
	}, verr.Fields)
}

func TestPreferenceRole(t *testing.T) {
	t.Parallel()
	owner := domain.Principal{UserID: "u", UserType: domain.UserTypeOwner}
	roleless := domain.Principal{UserID: "u"}
	role, err := domain.PreferenceRole(owner, "")
	require.NoError(t, err)
	require.Equal(t, domain.UserTypeOwner, role, "the token's")
	_, err = domain.PreferenceRole(owner, "client")
	require.ErrorIs(t, err, domain.ErrForbidden)
	_, err = domain.PreferenceRole(owner, "driver")
	require.ErrorIs(t, err, domain.ErrInvalid)
	_, err = domain.PreferenceRole(roleless, "")
	require.ErrorIs(t, err, domain.ErrInvalid)
	role, err = domain.PreferenceRole(roleless, "client")
	require.NoError(t, err)
	require.Equal(t, domain.UserTypeClient, role)
}

func TestUserMessageCategory(t *testing.T) {
	t.Parallel()
	m := domain.UserMessage{UserID: "42", UserType: domain.UserTypeClient, Title: map[string]string{"en": "t"},
		Body: map[string]string{"en": "b"}, TTL: domain.DefaultUserMessageTTL, Urgency: domain.UrgencyNormal}
	require.NoError(t, m.Validate())
	require.Equal(t, domain.Recipient{UserID: "42", UserType: domain.UserTypeClient}, m.Recipient(), "no category: nothing silences it")
	m.Category = "marketing"
	require.NoError(t, m.Validate())
	require.Equal(t, domain.Pref{Class: domain.PrefCategory, Name: "marketing"}, m.Recipient().Pref)
	m.Category = "Not OK"
	require.ErrorIs(t, m.Validate(), domain.ErrInvalid)
}
