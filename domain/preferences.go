package domain

import (
	"maps"
	"slices"
)

// PrefClass says what a preference switches: a notification kind, or a
// category of user notifications.
type PrefClass string

// The classes of preferences.
const (
	PrefKind     PrefClass = "kind"
	PrefCategory PrefClass = "category"
)

// Pref names one thing a user may switch off in a role: the kind
// "new_session", or the category "marketing". The zero Pref is nothing: a
// notification under it is never switched off (the test message).
type Pref struct {
	Class PrefClass
	Name  string
}

// KindPref is the preference of a notification kind.
func KindPref(t NotificationType) Pref { return Pref{Class: PrefKind, Name: string(t)} }

// PrefSetting is one preference a user set, on or off.
type PrefSetting struct {
	Pref    Pref
	Enabled bool
}

// MaxCategoryLength bounds a category's name: it is stored per user and
// named in job args, not a text to show.
const MaxCategoryLength = 64

// kindsByRole are the notification kinds each role receives, every one on
// until switched off (README, "Notification preferences").
var kindsByRole = map[UserType][]NotificationType{
	UserTypeClient: {TypeChargingStarted, TypeChargingCompleted},
	UserTypeOwner:  {TypeNewSession, TypeSessionCompleted},
}

// KindsFor lists the notification kinds a role receives.
func KindsFor(role UserType) []NotificationType { return slices.Clone(kindsByRole[role]) }

// ValidCategory reports whether name may name a category: 1 to 64 of
// [a-z0-9_.-], so that it is a stable identifier, not free text.
func ValidCategory(name string) bool {
	if name == "" || len(name) > MaxCategoryLength {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

const categoryRule = "must be 1 to 64 characters of a-z, 0-9, _, . and -"

// Preferences are what a user hears in one role: every kind of the role,
// on or off, and the categories the user switched (any other is on).
type Preferences struct {
	UserType   UserType
	Kinds      map[string]bool
	Categories map[string]bool
}

// NewPreferences applies what the user set in role over the defaults
// (every kind on). A stored kind the role no longer has is left out.
func NewPreferences(role UserType, set []PrefSetting) Preferences {
	p := Preferences{UserType: role, Kinds: map[string]bool{}, Categories: map[string]bool{}}
	for _, k := range kindsByRole[role] {
		p.Kinds[string(k)] = true
	}
	for _, s := range set {
		switch _, known := p.Kinds[s.Pref.Name]; {
		case s.Pref.Class == PrefKind && known:
			p.Kinds[s.Pref.Name] = s.Enabled
		case s.Pref.Class == PrefCategory:
			p.Categories[s.Pref.Name] = s.Enabled
		}
	}
	return p
}

// PreferenceChange is what a user switches in one role; only the kinds and
// categories named change.
type PreferenceChange struct {
	UserType   UserType
	Kinds      map[string]bool
	Categories map[string]bool
}

// Settings validates the change and lists it as settings, in a stable
// order. Every unknown kind and malformed category is named (kinds.<name>,
// categories.<name>), so a client fixes them all in one round trip.
func (c PreferenceChange) Settings() ([]PrefSetting, error) {
	v := &ValidationError{}
	var out []PrefSetting
	for _, name := range slices.Sorted(maps.Keys(c.Kinds)) {
		if !slices.Contains(kindsByRole[c.UserType], NotificationType(name)) {
			v.Add("kinds."+name, "unknown notification kind")
			continue
		}
		out = append(out, PrefSetting{Pref: Pref{Class: PrefKind, Name: name}, Enabled: c.Kinds[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Categories)) {
		if !ValidCategory(name) {
			v.Add("categories."+name, categoryRule)
			continue
		}
		out = append(out, PrefSetting{Pref: Pref{Class: PrefCategory, Name: name}, Enabled: c.Categories[name]})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// PreferenceRole is the role whose preferences the caller reads or
// changes: the one asked for, else the token's. A token without a role
// must name one; a token may not touch another role's (as it may not
// subscribe in it).
func PreferenceRole(caller Principal, asked string) (UserType, error) {
	if asked == "" {
		asked = string(caller.UserType)
	}
	if asked == "" {
		return "", Invalid(FieldUserType, "is required with a token that names no role")
	}
	role, err := ParseUserType(asked)
	if err != nil {
		return "", Invalid(FieldUserType, err.Error())
	}
	if !caller.MayActAs(role) {
		return "", Errorf(ErrForbidden, "this token may not act as %q", role)
	}
	return role, nil
}
